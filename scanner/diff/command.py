"""What the `kguard diff` command does between parsing and exiting: scan, render, write, report problems."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from scanner.config import Config
from scanner.diff.run import DiffResult, run_diff
from scanner.errors import UsageError
from scanner.model import Severity
from scanner.report.safe import safe_text
from scanner.scan import ScanOptions

FORMATS = ("rich", "json", "sarif", "markdown", "html")
REPORT_FILES = {"kguard-diff.json": "json", "kguard-diff.sarif": "sarif", "kguard-diff.md": "markdown",
                "kguard-diff.txt": "rich", "kguard-diff.html": "html"}


def render(diff: DiffResult, fmt: str, threshold: Severity | None) -> str:
    from scanner.diff import render as renderers

    if fmt == "json":
        return renderers.render_json(diff, threshold)
    if fmt == "sarif":
        return renderers.render_sarif(diff)
    if fmt == "markdown":
        from scanner.diff import markdown

        return markdown.render(diff, threshold)
    if fmt == "rich":
        return renderers.render_text(diff, threshold)
    if fmt == "html":
        from scanner.diff import html

        return html.render(diff, threshold)
    raise UsageError(f"kguard diff --format must be one of {', '.join(FORMATS)}, not {fmt!r}")


def problems(diff: DiffResult) -> list[str]:
    """One stderr line per input or policy error (head) and per input the base revision could not read."""
    def where(path: str, line: int | None) -> str:
        return f"{path}:{line}" if line else path

    lines = [f"kguard: error: {where(e.path, e.line)}: {e.message}" for e in diff.input_errors]
    lines += [f"kguard: error: policy {e.policy}: {e.message}" for e in diff.policy_errors]
    lines += [f"kguard: warning: base revision {diff.base[:12]}: {where(e.path, e.line)}: {e.message} "
              "(its findings count as new)" for e in diff.base_errors]
    return [safe_text(line) for line in dict.fromkeys(lines)]


def diff_command(base: str, head: str | None, *, fmt: str, output: Path | None, report_dir: Path | None,
                 threshold: Severity | None, options: dict[str, object], select: Sequence[str],
                 ignore: Sequence[str]) -> int:
    """Run `kguard diff`; returns the exit code (0 nothing introduced, 1 something introduced, 2 errors)."""
    if fmt not in FORMATS:
        raise UsageError(f"kguard diff --format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    policy_dir = options.get("policy_dir")
    fixed = dict(options, policy_dir=Path(policy_dir).resolve() if isinstance(policy_dir, str | Path) else None)

    def make_options(config: Config) -> ScanOptions:
        return ScanOptions(config=config, select=select, ignore=ignore, **fixed)  # type: ignore[arg-type]

    diff = run_diff(Path.cwd(), base, head, make_options)
    for line in problems(diff):
        print(line, file=sys.stderr)
    text = render(diff, fmt, threshold)
    from scanner.safe_files import write_file, write_files

    if output is None:
        sys.stdout.write(text)
    else:
        write_file(output, text)
    if report_dir is not None:
        try:
            write_files(report_dir, {name: render(diff, kind, threshold) for name, kind in REPORT_FILES.items()})
        except OSError as exc:
            raise UsageError(f"{report_dir}: cannot write reports: {exc.strerror or exc}") from None
    return diff.exit_code(threshold)
