"""One line per unsuppressed finding, linter style (`path:line:col: severity rule-id message`): for --quiet.

Paths are relative to the current directory (`terminal_path`), as linters print them.

Paths, rule ids and messages are shown through `safe_text` and the lines through `guard_lines`, so a hostile file
or object name can neither break a line nor pose as a CI workflow command.
"""

from __future__ import annotations

from collections.abc import Sequence

from scanner.model import ScanResult, Severity
from scanner.report._common import as_results, safe_text, sort_findings, terminal_path
from scanner.report.safe import guard_lines


def render(results: ScanResult | Sequence[ScanResult], *, threshold: Severity | None = None) -> str:
    """Unsuppressed findings at or above ``threshold`` (all when None), sorted by location."""
    lines = []
    for result in as_results(results):
        for f in sort_findings(result.findings):
            if f.suppressed or (threshold is not None and f.severity < threshold):
                continue
            loc = f.location
            lines.append(f"{safe_text(terminal_path(loc.path))}:{loc.line}:{loc.column}: {f.severity.label} "
                         f"{safe_text(f.rule_id)} {safe_text(f.message)}")
    return guard_lines("".join(line + "\n" for line in lines))
