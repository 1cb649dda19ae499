"""The human report (Rich): what blocks first, one verdict line last.

Findings are shown most severe first across categories, one block per rule: the objects it fires on (one entry per
object and line, with every reason), its fix once, and for a rule that fires on many objects the first few and a
count. Two layouts share that order: ``full`` (field paths, related objects, the severity x category and input
tables) and ``compact`` (for hooks, pipes and narrow terminals: fewer objects per rule, one-line counts). Large
results get a per-rule table, several runs (overlays) a grand total, and every report ends with the verdict
(`blocked: 2 findings >= high (1 critical)` / `passed: ...`). Suppressed findings are counted; they are listed only
when asked (``show_suppressed``; the text file always lists them).

`print_report` prints to any Rich console; `render` / `export_text` return plain text (the file format: full, every
object, suppressed listed). Every text that comes from the scanned objects or the policies is shown through
`safe_text` (control characters escaped, never Rich markup), and printed or exported output goes through
`guard_lines` (no line a CI runner would take for a workflow command).
"""


from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich import box
from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.rule import Rule as Heading
from rich.table import Table
from rich.text import Text

from scanner.engine.catalogue import Rule
from scanner.model import Finding, RelatedLocation, ScanResult, Severity
from scanner.report._common import (
    CATEGORY_ORDER,
    SEVERITIES,
    SUPPRESSION_KINDS,
    as_results,
    category_key,
    category_title,
    format_field_path,
    input_counts,
    problem_rows,
    relative_posix_path,
    remediation_for,
    report_rules,
    run_counts,
    safe_text,
    sentence,
    settings_rows,
    sort_findings,
    suppression_note,
    terminal_path,
)
from scanner.report.safe import guard_lines

if TYPE_CHECKING:
    from scanner.safe_files import Producer

DEFAULT_WIDTH = 100
FULL = "full"
COMPACT = "compact"
LAYOUTS = (FULL, COMPACT)
# Objects shown per rule in the terminal before "... and N more" (the files show every one).
TERMINAL_OBJECTS = {FULL: 10, COMPACT: 3}
# The per-rule table appears when a run has more unsuppressed findings than this, or more rules than RULE_TABLE_RULES.
RULE_TABLE_FINDINGS = 20
RULE_TABLE_RULES = 5
PROBLEM_ROWS = {FULL: None, COMPACT: 10}
SEVERITY_STYLES = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
PROBLEM_STYLES = {"input error": "bold red", "policy error": "bold red", "not evaluated": "yellow", "skipped": "dim",
                  "coverage gap": "yellow"}
_SHORT = {Severity.CRITICAL: "crit", Severity.MEDIUM: "med"}  # column headers of the grand total


@dataclass(frozen=True, slots=True)
class View:
    """How to show a report: layout, fail threshold (for the verdict), suppressed listing, objects per rule."""

    layout: str = FULL
    threshold: Severity | None = Severity.HIGH
    show_suppressed: bool = False
    objects_per_rule: int | None = None  # None: every object

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"unknown layout {self.layout!r} (choose from {', '.join(LAYOUTS)})")

    @classmethod
    def terminal(cls, layout: str = FULL, threshold: Severity | None = Severity.HIGH,
                 show_suppressed: bool = False) -> View:
        """What the CLI prints: at most a few objects per rule."""
        return cls(layout=layout, threshold=threshold, show_suppressed=show_suppressed,
                   objects_per_rule=TERMINAL_OBJECTS.get(layout))


FILE_VIEW = View(layout=FULL, show_suppressed=True)
FULL_MIN_WIDTH = 100


def choose_layout(is_terminal: bool, width: int, environ: Mapping[str, str]) -> str:
    """The terminal default: compact under pre-commit (``PRE_COMMIT=1``), into a pipe or file, or in a terminal
    narrower than `FULL_MIN_WIDTH` columns; full otherwise."""
    if environ.get("PRE_COMMIT") == "1" or not is_terminal or width < FULL_MIN_WIDTH:
        return COMPACT
    return FULL


def render(results: ScanResult | Sequence[ScanResult], *, console_width: int = DEFAULT_WIDTH,
           threshold: Severity | None = Severity.HIGH) -> str:
    """The report as plain text (no colour), ``console_width`` columns wide: full, every object, suppressed listed."""
    return export_text(results, width=console_width, threshold=threshold)


def print_report(results: ScanResult | Sequence[ScanResult], console: Console, view: View = FILE_VIEW,
                 *, emit: Callable[[RenderableType], None] | None = None) -> None:
    """Print the report of one or several runs to ``console``, then the grand total (several runs) and the verdict.

    The report goes out a part (a rule block, a table) at a time, each to ``emit`` when given (`export_text` takes
    each part's text and lets it go instead of holding a large report's every segment), else to ``console``.
    """
    show = emit or console.print
    runs = as_results(results)
    for index, result in enumerate(runs):
        if index:
            show(Text())
        for part in report_renderables(result, view, title_run=len(runs) > 1):
            show(part)
    if len(runs) > 1:
        show(Group(_heading(f"Total across {len(runs)} runs"), grand_total_table(runs), Text()))
    show(verdict(runs, view.threshold))


def print_guarded(results: ScanResult | Sequence[ScanResult], console: Console, view: View | None = None) -> None:
    """Print the report to ``console``'s file with `guard_lines` applied (what `kguard scan` shows on stdout)."""
    with console.capture() as capture:
        print_report(results, console, view or View.terminal())
    text = capture.get()
    if not console.is_terminal:  # Rich pads lines to their block's width; a pipe or log gets them trimmed
        text = "".join(line.rstrip() + "\n" for line in text.split("\n")[:-1]) + text.split("\n")[-1]
    console.file.write(guard_lines(text))
    console.file.flush()


def export_text(results: ScanResult | Sequence[ScanResult], *, width: int = DEFAULT_WIDTH,
                threshold: Severity | None = Severity.HIGH, view: View | None = None) -> str:
    """The report as plain text, trailing spaces removed (Rich pads lines to their block's width)."""
    pieces: list[str] = []
    write_text(results, pieces.append, width=width, threshold=threshold, view=view)
    return "".join(pieces)


def producer(results: ScanResult | Sequence[ScanResult], *, console_width: int = DEFAULT_WIDTH,
             threshold: Severity | None = Severity.HIGH) -> Producer:
    """`render`'s text as a function that hands it to a write function a part at a time (a large report is never
    held as one string)."""
    return lambda write: write_text(results, write, width=console_width, threshold=threshold)


def write_text(results: ScanResult | Sequence[ScanResult], write: Callable[[str], None], *,
               width: int = DEFAULT_WIDTH, threshold: Severity | None = Severity.HIGH,
               view: View | None = None) -> None:
    """`export_text`'s text handed to ``write`` in whole lines, a part of the report at a time.

    A part made of text alone (the rule blocks, most of a large report) is laid out by Rich's own wrapping straight
    into lines (`_plain_lines`) instead of being rendered to styled segments first: half the time for a 20k-object
    report, the same text (the tests compare it with Rich's rendering); any other part is printed by Rich.
    """
    console = _recording_console(width, color=False)
    pending = ""  # the start of a line not yet ended

    def put(text: str) -> None:
        nonlocal pending
        lines = (pending + text).split("\n")  # not splitlines(): no other character may end a line
        pending = lines.pop()
        if lines:
            write(guard_lines("".join(line.rstrip() + "\n" for line in lines)))

    def emit(part: RenderableType) -> None:
        lines: list[str] = []
        if _plain_lines(part, console, width, lines):
            put("".join(line + "\n" for line in lines))
        else:
            console.print(part)
            put(console.export_text(clear=True))

    print_report(results, console, view or View(layout=FULL, threshold=threshold, show_suppressed=True), emit=emit)
    if pending:
        write(guard_lines(pending.rstrip() + "\n"))


def _plain_lines(part: RenderableType, console: Console, width: int, out: list[str], indent: int = 0) -> bool:
    """Append the lines Rich prints for ``part`` without colour (before trailing spaces are removed) to ``out``,
    when ``part`` is only `Text`, `Group` and left `Padding` with their defaults; False (``out`` then incomplete)
    for anything else, or a line that Rich would crop."""
    if isinstance(part, Group):
        return all(_plain_lines(inner, console, width, out, indent) for inner in part.renderables)
    if isinstance(part, Padding):
        plain_padding = part.expand and not (part.top or part.right or part.bottom)
        return plain_padding and _plain_lines(part.renderable, console, width, out, indent + part.left)
    if not isinstance(part, Text) or part.end != "\n" or part.justify not in (None, "default") \
            or part.overflow not in (None, "fold") or part.no_wrap:
        return False
    room = width - indent
    if room < 1:
        return False
    pad = " " * indent
    plain = part.plain
    if "\n" not in plain and "\t" not in plain and cell_len(plain) <= room:  # one line that fits: nothing to wrap
        out.append(pad + plain)
        return True
    tab_size = console.tab_size if part.tab_size is None else part.tab_size
    lines = part.wrap(console, room, justify="default", overflow="fold", tab_size=tab_size or 8, no_wrap=False)
    for line in lines:
        text = line.plain
        if cell_len(text) > room:
            return False
        out.append(pad + text)
    return True


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


def _heading(text: str, style: str = "bold") -> Heading:
    return Heading(Text(text, style=style), align="left", style="dim")


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def report_renderables(result: ScanResult, view: View = FILE_VIEW, *,
                       title_run: bool = False) -> Iterator[RenderableType]:
    """Everything the report shows for one run, top to bottom, each part made when it is printed."""
    rules = {rule.id: rule for rule in report_rules(result)}
    findings = sort_findings(result.findings)
    active = [f for f in findings if not f.suppressed]
    suppressed = [f for f in findings if f.suppressed]
    title = f"kguard report: {safe_text(result.category)}" if title_run else "kguard report"
    compact = view.layout == COMPACT
    problems = _problems(result, PROBLEM_ROWS[view.layout])
    if compact and title_run and not active and problems is None:  # a clean overlay: one line
        line = Text.assemble((safe_text(result.category), "bold"), ": ", ("no unsuppressed findings", "green"))
        line.append(f" ({_inputs_line(result)}" + (f"; suppressed: {_suppressed_counts(suppressed)})" if suppressed
                                                    else ")"))
        yield line
        return
    yield Heading(Text(title, style="bold"), style="bold")
    if not compact:
        yield from (settings_grid(result), Text())
    if not active:
        yield Text("No unsuppressed findings.", style="bold green")
    else:
        yield _heading(f"Findings ({len(active)}), most severe first")
        for block in ruleblocks(active):
            yield _rule_block(block, rules, view)
    if suppressed:
        if view.show_suppressed:
            yield _heading(f"Suppressed ({len(suppressed)})", style="dim")
            yield from (_suppressed_block(f) for f in suppressed)
        else:
            yield Text(f"Suppressed: {_suppressed_counts(suppressed)}, not counted; --show-suppressed lists them",
                       style="dim")
    if problems is not None:
        yield from (_heading("Not scanned or not evaluated"), problems, Text())
    if active and (len(active) > RULE_TABLE_FINDINGS or len({f.rule_id for f in active}) > RULE_TABLE_RULES):
        yield from (_heading("Findings by rule"), rule_table(active, rules), Text())
    if compact:
        yield Text(_inputs_line(result), style="dim")
    else:
        yield _heading("Summary")
        if active:
            yield from (summary_table(result), Text())
        yield counts_table(result)


def _suppressed_counts(suppressed: list[Finding]) -> str:
    counts: dict[str, int] = {}
    for finding in suppressed:
        assert finding.suppression is not None
        how = SUPPRESSION_KINDS.get(finding.suppression.kind, finding.suppression.kind)
        counts[how] = counts.get(how, 0) + 1
    return f"{len(suppressed)} ({', '.join(f'{n} {how}' for how, n in sorted(counts.items()))})"


def _inputs_line(result: ScanResult) -> str:
    parts = [plural(len(result.scanned), "file") + " scanned", plural(result.resources, "resource")]
    for count, noun in ((len(result.skipped), "skipped input"), (len(result.not_evaluated), "not evaluated"),
                        (len(result.input_errors), "input error"), (len(result.policy_errors), "policy error"),
                        (len(result.coverage), "coverage gap")):
        if count:
            parts.append(f"{count} not evaluated" if noun == "not evaluated" else plural(count, noun))
    return ", ".join(parts)


# --- finding blocks -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleBlock:
    """One rule at one severity: its findings grouped by object and line (one entry each, every reason kept)."""

    rule_id: str
    severity: Severity
    objects: tuple[tuple[Finding, ...], ...]

    @property
    def findings(self) -> list[Finding]:
        return [f for group in self.objects for f in group]


def ruleblocks(findings: Sequence[Finding]) -> list[RuleBlock]:
    """Findings as rule blocks, most severe first, then by category and rule id; objects in location order."""
    by_rule: dict[tuple[str, Severity], dict[tuple[object, ...], list[Finding]]] = {}
    for finding in sort_findings(findings):
        groups = by_rule.setdefault((finding.rule_id, finding.severity), {})
        where = (finding.resource, relative_posix_path(finding.location.path)[0], finding.location.line)
        groups.setdefault(where, []).append(finding)
    order = sorted(by_rule, key=lambda key: (-key[1], category_key(_category(by_rule[key])), key[0]))
    return [RuleBlock(rule_id=rid, severity=sev, objects=tuple(tuple(g) for g in by_rule[(rid, sev)].values()))
            for rid, sev in order]


def _category(groups: dict[tuple[object, ...], list[Finding]]) -> str:
    return min((f.category for group in groups.values() for f in group), key=category_key)


def _location(finding: Finding) -> str:
    loc = finding.location
    return f"{safe_text(terminal_path(relative_posix_path(loc.path)[0]))}:{loc.line}:{loc.column}"


def _severity_label(severity: Severity) -> Text:
    return Text(f"{severity.label.upper():<8}", style=SEVERITY_STYLES[severity])


def _indented(*lines: RenderableType, by: int = 2) -> RenderableType:
    """Lines indented; wrapped text keeps the indent."""
    return Padding(Group(*lines), (0, 0, 0, by))


def _rule_block(block: RuleBlock, rules: dict[str, Rule], view: View) -> RenderableType:
    rule = rules.get(block.rule_id)
    findings = block.findings
    head = Text.assemble(_severity_label(block.severity), " ", (safe_text(block.rule_id), "bold"))
    if len(findings) > 1:
        head.append(f" ({plural(len(findings), 'finding')}, {plural(len({f.resource for f in findings}), 'object')})")
    if rule and rule.title != block.rule_id:
        head.append(f"  {safe_text(rule.title, prose=True)}", style="italic")
    # compact: a rule below the fail threshold shows only where it fires (what blocks gets the messages and fixes)
    brief = view.layout == COMPACT and not block.severity.blocks(view.threshold)
    fixes = {remediation_for(f, rules) for f in findings}
    shared_fix = None if brief else fixes.pop() if len(fixes) == 1 else None
    shown = block.objects if view.objects_per_rule is None else block.objects[: view.objects_per_rule]
    body: list[RenderableType] = [
        _where(group[0]) if brief else _object_entry(group, rules, view, with_fix=shared_fix is None)
        for group in shown
    ]
    hidden = len(block.objects) - len(shown)
    if hidden:
        body.append(Text(f"... and {hidden} more (every one in --format json or sarif)", style="dim"))
    if shared_fix:
        body.append(Text.assemble(("Fix: ", "green"), safe_text(sentence(shared_fix), prose=True)))
    return Group(head, _indented(*body), Text())


def _where(finding: Finding) -> Text:
    return Text.assemble((_location(finding), "cyan"), "  ", safe_text(finding.resource.display()))


def _object_entry(group: tuple[Finding, ...], rules: dict[str, Rule], view: View, *, with_fix: bool) -> RenderableType:
    first = group[0]
    where = _where(first)
    details: list[RenderableType] = []
    full = view.layout == FULL
    for finding in group:
        if full and finding.field_path:
            details.append(Text(f"field: {safe_text(format_field_path(finding.field_path))}", style="dim"))
        details.append(Text(safe_text(sentence(finding.message))))
    if with_fix:
        fixes = dict.fromkeys(remediation_for(f, rules) for f in group)
        details.extend(Text.assemble(("Fix: ", "green"), safe_text(sentence(fix), prose=True)) for fix in fixes if fix)
    if full:
        related = dict.fromkeys(rel for f in group for rel in f.related)
        details.extend(_related_line(rel) for rel in related)
        actions = dict.fromkeys(f.enforcement_action for f in group if f.enforcement_action not in ("", "deny"))
        details.extend(Text(f"Enforcement action: {safe_text(a)}", style="dim") for a in actions)
    return Group(where, _indented(*details))


def _related_line(rel: RelatedLocation) -> Text:
    text = Text.assemble(("Related: ", "dim"), safe_text(rel.resource.display()))
    if rel.location:
        path = safe_text(terminal_path(relative_posix_path(rel.location.path)[0]))
        text.append(f" ({path}:{rel.location.line})", style="cyan")
    if rel.message:
        text.append(f": {safe_text(rel.message)}")
    return text


def _suppressed_block(finding: Finding) -> RenderableType:
    assert finding.suppression is not None
    how, why = suppression_note(finding.suppression)
    head = Text(f"{finding.severity.label.upper():<8} {safe_text(finding.rule_id)}", style="dim")
    body = _indented(
        Text(f"{_location(finding)}  {safe_text(finding.resource.display())}", style="dim"),
        Text(safe_text(sentence(finding.message)), style="dim"),
        Text(safe_text(f"Suppressed ({how}): {why}"), style="dim"),
    )
    return Group(head, body, Text())


# --- tables and the verdict -----------------------------------------------------------------------------------


def rule_table(active: Sequence[Finding], rules: dict[str, Rule]) -> Table:
    """Unsuppressed findings per rule (most severe first): severity, rule, findings, objects, files."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("Severity", no_wrap=True)
    table.add_column("Rule", overflow="fold")
    table.add_column("Findings", justify="right", no_wrap=True)
    table.add_column("Objects", justify="right", no_wrap=True)
    table.add_column("Files", justify="right", no_wrap=True)
    for block in ruleblocks(active):
        findings = block.findings
        files = {relative_posix_path(f.location.path)[0] for f in findings}
        table.add_row(Text(block.severity.label, style=SEVERITY_STYLES[block.severity]),
                      Text(safe_text(block.rule_id)), str(len(findings)),
                      str(len({f.resource for f in findings})), str(len(files)))
    return table


def grand_total_table(runs: Sequence[ScanResult]) -> Table:
    """Unsuppressed findings by severity for each run and in total, plus suppressed and error counts (run names
    without their ``kguard/`` prefix, so that they fit 80 columns)."""
    prefix = "kguard/"  # every overlay's and cluster's category starts with it
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("Run", overflow="fold")
    for severity in SEVERITIES:
        table.add_column(Text(_SHORT.get(severity, severity.label), style=SEVERITY_STYLES[severity]),
                         justify="right", no_wrap=True)
    table.add_column("suppr", justify="right", no_wrap=True)
    table.add_column("errors", justify="right", no_wrap=True)
    rows = [run_counts(result) for result in runs]
    for result, row in zip(runs, rows, strict=True):
        table.add_row(Text(safe_text(result.category.removeprefix(prefix))), *map(str, row))
    table.add_section()
    totals = [sum(column) for column in zip(*rows, strict=True)]
    table.add_row(Text("total", style="bold"), *(Text(str(n), style="bold") for n in totals))
    return table


def verdict(runs: Sequence[ScanResult], threshold: Severity | None) -> Text:
    """The last line: ``blocked: 2 findings >= high (1 critical)``, ``passed: ...`` or ``error: ...`` (exit 2).

    It says what the exit code says (`ScanResult.exit_code`): info findings never block.
    """
    active = [f for r in runs for f in r.findings if not f.suppressed]
    errors = [(sum(len(r.input_errors) for r in runs), "input error"),
              (sum(len(r.policy_errors) for r in runs), "policy error")]
    blocking = [f for f in active if f.severity.blocks(threshold)]
    parts = []
    if blocking:
        assert threshold is not None
        above = [f"{sum(f.severity == s for f in blocking)} {s.label}" for s in SEVERITIES
                 if s > threshold and any(f.severity == s for f in blocking)]
        parts.append(f"{plural(len(blocking), 'finding')} >= {threshold.label}" + (f" ({', '.join(above)})"
                                                                                   if above else ""))
    if any(count for count, _ in errors):
        problems = ", ".join(plural(count, noun) for count, noun in errors if count)
        return Text(f"error: {problems}" + (f"; {parts[0]}" if parts else ""), style="bold red")
    if blocking:
        return Text(f"blocked: {parts[0]}", style="bold red")
    below = [f"{sum(f.severity == s for f in active)} {s.label}" for s in SEVERITIES
             if any(f.severity == s for f in active)]
    if threshold is None:
        rest = f" (--fail-on none; reported: {', '.join(below)})" if below else ""
    else:
        rest = f": no finding >= {threshold.label}" + (f" (reported: {', '.join(below)})" if below else "")
    return Text(f"passed{rest}", style="bold green")


def settings_grid(result: ScanResult) -> Table:
    """What the scan ran with (policies, configuration, suppressions), one dim line each, under the title."""
    table = Table.grid(padding=(0, 2))
    table.add_column(no_wrap=True, style="dim")
    table.add_column(style="dim")
    for label, text in settings_rows(result.settings):
        table.add_row(Text(safe_text(label)), Text(safe_text(text, prose=True)))
    return table



def _problems(result: ScanResult, limit: int | None = None) -> Table | None:
    """Input errors, policy errors, objects not evaluated, skipped inputs and coverage gaps, one per row (the first
    ``limit`` rows and a count of the rest when ``limit`` is given)."""
    rows = problem_rows(result, terminal_path)
    if not rows:
        return None
    table = Table.grid(padding=(0, 2))
    table.add_column(no_wrap=True)
    table.add_column()
    for kind, text in rows[:limit]:
        table.add_row(Text(kind, PROBLEM_STYLES[kind]), Text(safe_text(text)))
    if limit is not None and len(rows) > limit:
        table.add_row(Text("..."), Text(f"and {len(rows) - limit} more (every one in --format json or sarif)",
                                        style="dim"))
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
    for severity in SEVERITIES:
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
    styles = ("", "", "yellow", "yellow", "bold red", "bold red", "yellow")
    for (label, count), style in zip(input_counts([result]), styles, strict=True):
        table.add_row(label, Text(str(count), style=style if count else ""))
    return table
