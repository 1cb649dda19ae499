"""`kguard diff --format html`: one self-contained page (CSP `default-src 'none'`, inline style only): the verdict,
per changed unit a graph of the network paths and escalation paths the change adds (green, solid) or removes
(red, dashed), drawn by Graphviz (`scanner.report.html_graphs.render_svg`), and tables of findings and deltas."""

from __future__ import annotations

import html
from collections.abc import Sequence

from scanner.diff.compare import FindingChange
from scanner.diff.deltas import Delta
from scanner.diff.render import ASPECT_TITLES, CHANGE_WORDS, unit_title, verdict
from scanner.diff.run import DiffResult, UnitDiff
from scanner.model import Severity
from scanner.report.safe import safe_text

ADDED, REMOVED = "#1a7f37", "#cf222e"
MAX_GRAPH_EDGES = 60
STYLE = """body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1f2328;max-width:75rem}
table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border:1px solid #d0d7de;padding:.25rem .5rem;
text-align:left;vertical-align:top}th{background:#f6f8fa}.new,.added{color:#1a7f37}.absent,.removed{color:#cf222e}
code{font-size:90%}svg{max-width:100%;height:auto}.fail{color:#cf222e}.pass{color:#1a7f37}"""


def _e(text: object) -> str:
    return html.escape(safe_text(str(text)), quote=True)


def _dot_string(text: str) -> str:
    return '"' + safe_text(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def graph_dot(deltas: Sequence[Delta]) -> str | None:
    """The added and removed network and escalation edges as a DOT graph (None when there are none)."""
    edges = []
    for delta in deltas:
        if delta.aspect == "network" and delta.change in ("added", "removed") and " -> " in delta.key:
            source, destination = delta.key.split(" -> ", 1)
            edges.append((source, destination, delta.fact.value, delta.change))
        elif delta.aspect == "escalation" and delta.change in ("added", "removed"):
            subject, _, rest = delta.key.partition(" can ")
            target = rest.rsplit(" ", 2)[-2:] if rest else []
            edges.append((subject, " ".join(target), f"can {rest}"[:60], delta.change))
    if not edges:
        return None
    lines = ["digraph diff {", "  rankdir=LR; bgcolor=\"transparent\";",
             '  node [shape=box, style="rounded", fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9];']
    for source, destination, text, change in edges[:MAX_GRAPH_EDGES]:
        style = f'color="{ADDED}", fontcolor="{ADDED}"' if change == "added" else \
            f'color="{REMOVED}", fontcolor="{REMOVED}", style=dashed'
        lines.append(f"  {_dot_string(source)} -> {_dot_string(destination)} [label={_dot_string(text)}, {style}];")
    lines.append("}")
    return "\n".join(lines)


def _graph(deltas: Sequence[Delta]) -> str:
    dot = graph_dot(deltas)
    if dot is None:
        return ""
    try:
        from scanner.report.html_graphs import render_svg

        return f"<figure>{render_svg(dot)}<figcaption>green: opened or added; red, dashed: closed or removed"\
               "</figcaption></figure>"
    except Exception as exc:  # no Graphviz runtime: the tables still stand
        return f"<p>(the graph could not be drawn: {_e(type(exc).__name__)})</p>"


def _findings(changes: Sequence[FindingChange]) -> str:
    rows = "".join(
        f"<tr class='{c.state}'><td>{_e(c.state if c.state != 'absent' else 'fixed')}</td>"
        f"<td>{_e(c.finding.severity.label)}</td><td><code>{_e(c.finding.rule_id)}</code></td>"
        f"<td>{_e(c.finding.resource.display())}</td>"
        f"<td><code>{_e(c.finding.location.path)}:{c.finding.location.line}</code></td>"
        f"<td>{_e(c.finding.message)}</td></tr>" for c in changes)
    return ("<table><tr><th>State</th><th>Severity</th><th>Rule</th><th>Object</th><th>Where</th><th>Message</th>"
            f"</tr>{rows}</table>") if rows else ""


def _deltas(deltas: Sequence[Delta]) -> str:
    rows = []
    for d in deltas:
        fact = d.fact
        where = f"{fact.location.path}:{fact.location.line}" if fact.location else "(built-in)"
        value = f"{d.before.value} → {d.after.value}" if d.before and d.after else fact.value
        rows.append(f"<tr class='{d.change}'><td>{_e(ASPECT_TITLES[d.aspect])}</td>"
                    f"<td>{_e(CHANGE_WORDS[d.aspect][d.change])}</td><td>{_e(d.key)}</td><td>{_e(value)}</td>"
                    f"<td><code>{_e(where)}</code></td><td>{_e(fact.why)}</td></tr>")
    return ("<table><tr><th>Aspect</th><th>Change</th><th>What</th><th>Value</th><th>Where</th><th>Why</th></tr>"
            + "".join(rows) + "</table>") if rows else ""


def _unit(unit: UnitDiff) -> str:
    changed = [c for c in unit.findings if c.state != "unchanged"]
    if not changed and not unit.deltas:
        return ""
    return (f"<section><h2>{_e(unit_title(unit.key))}</h2>{_graph(unit.deltas)}{_findings(changed)}"
            f"{_deltas(unit.deltas)}</section>")


def render(diff: DiffResult, threshold: Severity | None) -> str:
    """The page, deterministic for the same comparison."""
    text = verdict(diff, threshold)
    css = "fail" if diff.exit_code(threshold) else "pass"
    head = diff.head if diff.head == "working tree" else diff.head[:12]
    unchanged = sum(u.counts()["unchanged"] for u in diff.units)
    body = "".join(_unit(u) for u in diff.units) or "<p>No finding, path, permission or level changed.</p>"
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'\">"
            f"<title>kguard diff {_e(diff.base[:12])}..{_e(head)}</title><style>{STYLE}</style></head><body>"
            f"<h1>kguard diff <code>{_e(diff.base[:12])}</code> → <code>{_e(head)}</code></h1>"
            f"<p class='{css}'><strong>{_e(text)}</strong></p>"
            f"<p>{unchanged} existing finding(s) unchanged (not blocking).</p>{body}</body></html>\n")
