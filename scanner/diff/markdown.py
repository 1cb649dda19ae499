"""`kguard diff --format markdown`: the pull-request comment / job summary. What the change introduces leads;
existing debt is counted, collapsed. Untrusted text goes through `scanner.report.markdown.escape` and `code`."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from urllib.parse import quote

from scanner.diff.compare import FindingChange
from scanner.diff.deltas import Delta
from scanner.diff.render import ASPECT_TITLES, CHANGE_WORDS, MAX_MARKDOWN_ROWS, unit_title, verdict
from scanner.diff.run import DiffResult
from scanner.model import Location, Severity
from scanner.report.markdown import MAX_CHARS, blob_base, code, escape

MAX_DELTA_ROWS = 20  # per aspect and unit; the JSON report lists all


def _link(location: Location | None, base: str | None) -> str:
    if location is None:
        return "(built-in role)"
    label = code(f"{location.path}:{location.line}")
    if location.path.startswith(("<", "/", "..")):
        return label
    return f"[{label}]({base or ''}{quote(location.path, safe='/')}#L{location.line})"


def _capped(rows: Sequence[str], limit: int = MAX_MARKDOWN_ROWS) -> list[str]:
    return [*rows[:limit], *([f"\n… and {len(rows) - limit} more (`--format json` lists all)"]
                             if len(rows) > limit else [])]


def finding_table(changes: Sequence[FindingChange], base: str | None) -> list[str]:
    rows = ["| Severity | Rule | Object | Where | Message |", "|---|---|---|---|---|"]
    body = []
    for change in changes:
        f = change.finding
        note = " (suppressed)" if f.suppressed else ""
        if change.state == "updated" and change.before is not None:
            note += f" (was {change.before.severity.label})"
        body.append(f"| {f.severity.label} | {code(f.rule_id)} | {code(f.resource.display())} | "
                    f"{_link(f.location, base)} | {escape(f.message)}{note} |")
    return [*rows, *_capped(body)]


def _delta_row(delta: Delta, base: str | None) -> str:
    fact = delta.fact
    verb = CHANGE_WORDS[delta.aspect][delta.change]
    value = (f"{escape(delta.before.value)} → {escape(delta.after.value)}"
             if delta.change == "changed" and delta.before and delta.after else escape(fact.value))
    cross = " **cross-environment**" if delta.aspect == "network" and fact.cross_environment else ""
    return f"- {verb} {code(delta.key)}: {value}{cross} via {_link(fact.location, base)} ({escape(fact.why)})"


def render(diff: DiffResult, threshold: Severity | None, environ: Mapping[str, str] | None = None) -> str:
    """The summary: verdict, per-unit counts, what blocks, new/fixed findings and every delta, existing debt."""
    base = blob_base(os.environ if environ is None else environ)
    head = diff.head if diff.head == "working tree" else diff.head[:12]
    lines = [f"## kguard diff: {escape(verdict(diff, threshold))}", "",
             f"{code(diff.base[:12])} → {code(head)}; only what the change introduces blocks "
             f"(fail on new: {threshold.label if threshold else 'none'}).", ""]
    changed_units = [u for u in diff.units if u.deltas or any(c.state != "unchanged" for c in u.findings)]
    lines += ["| Overlay / unit | New | Fixed | Updated | Unchanged | Network ± | Permissions ± | Escalations ± "
              "| PSS changes |", "|---|---|---|---|---|---|---|---|---|"]
    for unit in diff.units:
        counts = unit.counts()
        per = {a: sum(1 for d in unit.deltas if d.aspect == a) for a in ASPECT_TITLES}
        lines.append(f"| {code(unit_title(unit.key))} | {counts['new']} | {counts['absent']} | {counts['updated']} "
                     f"| {counts['unchanged']} | {per['network']} | {per['permission']} | {per['escalation']} "
                     f"| {per['namespace-level'] + per['workload-level']} |")
    unchanged = [c for u in diff.units for c in u.findings if c.state == "unchanged" and not c.finding.suppressed]
    by_severity = {s: sum(1 for c in unchanged if c.finding.severity == s) for s in sorted(Severity, reverse=True)}
    lines += ["", f"Existing findings, unchanged and not blocking: {len(unchanged)} ("
              + ", ".join(f"{n} {s.label}" for s, n in by_severity.items() if n) + ")." if unchanged
              else "No existing unsuppressed finding."]
    findings, deltas = diff.blocking(threshold)
    if findings or deltas:
        lines += ["", "### Blocking: introduced by this change", ""]
        if findings:
            lines += finding_table(findings, base)
        lines += _capped([_delta_row(d, base) for d in deltas])
    for unit in changed_units:
        lines += ["", f"### {escape(unit_title(unit.key))}"
                  + {"added": " (new in this change)", "removed": " (removed by this change)"}.get(unit.presence, "")]
        for state, title in (("new", "New findings"), ("updated", "Updated findings"), ("absent", "Fixed findings")):
            picked = [c for c in unit.findings if c.state == state]
            if picked:
                lines += ["", f"**{title}** ({len(picked)})", "", *finding_table(picked, base)]
        for aspect, title in ASPECT_TITLES.items():
            picked_deltas = [d for d in unit.deltas if d.aspect == aspect]
            if picked_deltas:
                lines += ["", f"<details><summary>{title}: {len(picked_deltas)} change(s)</summary>", "",
                          *_capped([_delta_row(d, base) for d in picked_deltas], MAX_DELTA_ROWS), "", "</details>"]
    text = "\n".join([*lines, ""])
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS].rsplit("\n", 1)[0]
        closing = "\n</details>" if text.count("<details>") > text.count("</details>") else ""
        text += f"{closing}\n\n… (truncated: `--format json` has everything)\n"
    return text
