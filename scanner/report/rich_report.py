"""The human report (Rich): findings grouped by category and severity, suppressed ones dimmed, a summary table.

`print_report` prints to any Rich console; `render` returns plain text; `export_text` / `export_html` use Rich's
recording console for `--report-dir`. Every text that comes from the scanned objects or the policies is shown
through `safe_text` (control characters escaped, never Rich markup), and printed or exported output goes through
`guard_lines` (no line a CI runner would take for a workflow command).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich import box
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.rule import Rule as Heading
from rich.table import Table
from rich.text import Text

from scanner.engine.catalogue import Rule
from scanner.model import Finding, ScanResult, Severity
from scanner.report._common import (
    CATEGORY_ORDER,
    as_results,
    category_key,
    category_title,
    coverage_text,
    format_field_path,
    relative_posix_path,
    remediation_for,
    report_rules,
    safe_text,
    sentence,
    settings_rows,
    sort_findings,
)
from scanner.report.safe import guard_lines

DEFAULT_WIDTH = 100
SEVERITY_STYLES = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
_SEVERITIES = tuple(sorted(Severity, reverse=True))


def render(results: ScanResult | Sequence[ScanResult], *, console_width: int = DEFAULT_WIDTH) -> str:
    """The report as plain text (no colour), ``console_width`` columns wide."""
    return export_text(results, width=console_width)


def print_report(results: ScanResult | Sequence[ScanResult], console: Console) -> None:
    """Print the report of one or several runs to ``console``."""
    runs = as_results(results)
    for index, result in enumerate(runs):
        if index:
            console.print()
        console.print(Group(*report_renderables(result, title_run=len(runs) > 1)))


def print_guarded(results: ScanResult | Sequence[ScanResult], console: Console) -> None:
    """Print the report to ``console``'s file with `guard_lines` applied (what `kguard scan` shows on stdout)."""
    with console.capture() as capture:
        print_report(results, console)
    console.file.write(guard_lines(capture.get()))
    console.file.flush()


def export_text(results: ScanResult | Sequence[ScanResult], *, width: int = DEFAULT_WIDTH) -> str:
    """The report as plain text, trailing spaces removed (Rich pads lines to their block's width)."""
    console = _recording_console(width, color=False)
    print_report(results, console)
    lines = console.export_text().split("\n")  # not splitlines(): no other character may end a line
    if lines and not lines[-1]:
        lines.pop()
    return guard_lines("".join(line.rstrip() + "\n" for line in lines))


def export_html(results: ScanResult | Sequence[ScanResult], *, width: int = DEFAULT_WIDTH) -> str:
    """A standalone HTML page with the coloured report."""
    console = _recording_console(width, color=True)
    print_report(results, console)
    return guard_lines(console.export_html(inline_styles=True))


def _recording_console(width: int, *, color: bool) -> Console:
    """A console independent of the environment (terminal size, NO_COLOR, TERM), so exports are reproducible."""
    return Console(
        file=io.StringIO(),
        record=True,
        width=width,
        force_terminal=color,
        color_system="truecolor" if color else None,
        no_color=not color,
        legacy_windows=False,
        emoji=False,
        highlight=False,
        _environ={},
    )


def report_renderables(result: ScanResult, *, title_run: bool = False) -> list[RenderableType]:
    """Everything the report shows for one run, top to bottom."""
    rules = {rule.id: rule for rule in report_rules(result)}
    findings = sort_findings(result.findings)
    active = [f for f in findings if not f.suppressed]
    suppressed = [f for f in findings if f.suppressed]
    title = f"kguard report: {safe_text(result.category)}" if title_run else "kguard report"
    out: list[RenderableType] = [Heading(Text(title, style="bold"), style="bold"), settings_grid(result), Text()]

    def section(text: str, style: str = "bold") -> None:
        out.append(Heading(Text(text, style=style), align="left", style="dim"))

    if not active:
        out.append(Text("No unsuppressed findings.", style="bold green"))
    categories = sorted({f.category for f in active}, key=category_key)
    for category in categories:
        mine = [f for f in active if f.category == category]
        section(f"{safe_text(category_title(category), prose=True)} ({len(mine)})")
        for severity in _SEVERITIES:
            out.extend(_finding_block(f, rules) for f in mine if f.severity == severity)
    if suppressed:
        section(f"Suppressed ({len(suppressed)})", style="dim")
        out.extend(_suppressed_block(f) for f in suppressed)
    problems = _problems(result)
    if problems is not None:
        section("Not scanned or not evaluated")
        out.extend((problems, Text()))
    section("Summary")
    out.extend((summary_table(result), Text(), counts_table(result)))
    return out


def _location(finding: Finding) -> str:
    loc = finding.location
    return f"{safe_text(relative_posix_path(loc.path)[0])}:{loc.line}:{loc.column}"


def settings_grid(result: ScanResult) -> Table:
    """What the scan ran with (policies, configuration, suppressions), one dim line each, under the title."""
    table = Table.grid(padding=(0, 2))
    table.add_column(no_wrap=True, style="dim")
    table.add_column(style="dim")
    for label, text in settings_rows(result.settings):
        table.add_row(Text(safe_text(label)), Text(safe_text(text, prose=True)))
    return table


def _severity_label(severity: Severity) -> Text:
    return Text(f"{severity.label.upper():<8}", style=SEVERITY_STYLES[severity])


def _indented(*lines: Text) -> RenderableType:
    """Lines under a finding's head, indented; wrapped text keeps the indent."""
    return Padding(Group(*lines), (0, 0, 0, 2))


def _finding_block(finding: Finding, rules: dict[str, Rule]) -> RenderableType:
    rule = rules.get(finding.rule_id)
    head = Text.assemble(_severity_label(finding.severity), " ", (safe_text(finding.rule_id), "bold"))
    if rule and rule.title != finding.rule_id:
        head.append(f"  {safe_text(rule.title, prose=True)}", style="italic")
    where = Text.assemble((_location(finding), "cyan"), "  ", safe_text(finding.resource.display()))
    body = [where]
    if finding.field_path:
        body.append(Text(f"field: {safe_text(format_field_path(finding.field_path))}", style="dim"))
    body.append(Text(safe_text(sentence(finding.message))))
    remediation = remediation_for(finding, rules)
    if remediation:
        body.append(Text.assemble(("Fix: ", "green"), safe_text(sentence(remediation), prose=True)))
    for rel in finding.related:
        text = Text.assemble(("Related: ", "dim"), safe_text(rel.resource.display()))
        if rel.location:
            path = safe_text(relative_posix_path(rel.location.path)[0])
            text.append(f" ({path}:{rel.location.line})", style="cyan")
        if rel.message:
            text.append(f": {safe_text(rel.message)}")
        body.append(text)
    if finding.enforcement_action not in ("", "deny"):
        body.append(Text(f"Enforcement action: {safe_text(finding.enforcement_action)}", style="dim"))
    return Group(head, _indented(*body), Text())


def _suppressed_block(finding: Finding) -> RenderableType:
    assert finding.suppression is not None
    sup = finding.suppression
    how = {"inSource": "annotation", "external": "baseline"}.get(sup.kind, sup.kind)
    extra = "".join(f", {label} {value}" for label, value in (("owner", sup.owner), ("expires", sup.expires))
                    if value)
    why = sup.justification or "no justification given"
    head = Text(f"{finding.severity.label.upper():<8} {safe_text(finding.rule_id)}", style="dim")
    body = _indented(
        Text(f"{_location(finding)}  {safe_text(finding.resource.display())}", style="dim"),
        Text(safe_text(sentence(finding.message)), style="dim"),
        Text(safe_text(f"Suppressed ({how}{extra}): {why}"), style="dim"),
    )
    return Group(head, body, Text())


def _problems(result: ScanResult) -> Table | None:
    """Input errors, policy errors, objects not evaluated, skipped inputs and coverage gaps, one per row."""
    rows: list[tuple[Text, str]] = []

    def where(path: str, line: int | None) -> str:
        return f"{path}:{line}" if line else path

    for err in sorted(result.input_errors, key=lambda e: (e.path, e.line or 0, e.message)):
        rows.append((Text("input error", "bold red"), f"{where(err.path, err.line)}: {err.message}"))
    for perr in sorted(result.policy_errors, key=lambda e: (e.policy, e.message)):
        rows.append((Text("policy error", "bold red"), f"{perr.policy}: {perr.message}"))
    for skip in sorted(result.not_evaluated, key=lambda s: (s.path, s.line or 0, s.reason)):
        rows.append((Text("not evaluated", "yellow"), f"{where(skip.path, skip.line)}: {skip.reason}"))
    for skip in sorted(result.skipped, key=lambda s: (s.path, s.line or 0, s.reason)):
        rows.append((Text("skipped", "dim"), f"{where(skip.path, skip.line)}: {skip.reason}"))
    for text in sorted(coverage_text(gap) for gap in result.coverage):
        rows.append((Text("coverage gap", "yellow"), text))
    if not rows:
        return None
    table = Table.grid(padding=(0, 2))
    table.add_column(no_wrap=True)
    table.add_column()
    for label, text in rows:
        table.add_row(label, Text(safe_text(text)))
    return table


def summary_table(result: ScanResult) -> Table:
    """Unsuppressed findings by severity x category, with totals; suppressed ones counted in the caption."""
    active = [f for f in result.findings if not f.suppressed]
    categories = sorted({*CATEGORY_ORDER, *(f.category for f in result.findings)}, key=category_key)
    suppressed = len(result.findings) - len(active)
    table = Table(title="Findings by severity and category", box=box.SIMPLE_HEAVY, title_justify="left",
                  caption=f"Suppressed findings (not counted above): {suppressed}", caption_justify="left")
    table.add_column("Severity")
    for category in categories:
        table.add_column(Text(safe_text(category_title(category), prose=True)), justify="right")
    table.add_column("Total", justify="right", style="bold")
    for severity in _SEVERITIES:
        row = [sum(f.severity == severity and f.category == c for f in active) for c in categories]
        table.add_row(Text(severity.label, style=SEVERITY_STYLES[severity]), *map(str, row), str(sum(row)))
    totals = [sum(f.category == c for f in active) for c in categories]
    table.add_section()
    table.add_row(Text("total", style="bold"), *map(str, totals), str(len(active)))
    return table


def counts_table(result: ScanResult) -> Table:
    """What was scanned, skipped, errored or left uncovered."""
    table = Table(title="Inputs", box=box.SIMPLE_HEAVY, title_justify="left", show_header=False)
    table.add_column("What")
    table.add_column("Count", justify="right")
    rows = (
        ("Files scanned", len(result.scanned), ""),
        ("Resources evaluated", result.resources, ""),
        ("Skipped inputs", len(result.skipped), "yellow"),
        ("Not evaluated", len(result.not_evaluated), "yellow"),
        ("Input errors", len(result.input_errors), "bold red"),
        ("Policy errors", len(result.policy_errors), "bold red"),
        ("Coverage gaps", len(result.coverage), "yellow"),
    )
    for label, count, style in rows:
        table.add_row(label, Text(str(count), style=style if count else ""))
    return table
