"""One line per unsuppressed finding, linter style (`path:line:col: severity rule-id message`): for --quiet."""

from __future__ import annotations

from collections.abc import Sequence

from scanner.model import ScanResult, Severity
from scanner.report._common import as_results, sort_findings


def render(results: ScanResult | Sequence[ScanResult], *, threshold: Severity | None = None) -> str:
    """Unsuppressed findings at or above ``threshold`` (all when None), sorted by location."""
    lines = []
    for result in as_results(results):
        for f in sort_findings(result.findings):
            if f.suppressed or (threshold is not None and f.severity < threshold):
                continue
            loc = f.location
            lines.append(f"{loc.path}:{loc.line}:{loc.column}: {f.severity.label} {f.rule_id} {f.message}")
    return "".join(line + "\n" for line in lines)
