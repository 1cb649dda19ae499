"""Markdown for a GitHub job summary or pull-request comment: the verdict, the blocking findings with links, the
whole-graph analyses' summaries and what was not scanned, kept under `MAX_CHARS`.

Links point at the repository host when the GitHub Actions variables (`GITHUB_SERVER_URL`, `GITHUB_REPOSITORY`,
`GITHUB_SHA`) name a commit, else at the repository-relative path. Every text from the scanned objects or the policies
is escaped with `safe_text` and then as Markdown (no link, HTML, table cell or heading can be injected); the output
goes through `guard_lines`. The same input and environment give the same bytes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from scanner.model import Finding, ScanResult, Severity
from scanner.report._common import (
    PROBLEM_KINDS,
    SEVERITIES,
    as_results,
    category_key,
    category_title,
    help_url,
    merged_settings,
    problem_rows,
    relative_posix_path,
    report_rules,
    run_counts,
    safe_text,
    sentence,
    settings_rows,
    sort_findings,
)
from scanner.report.safe import guard_lines

MAX_ROWS = 50  # blocking findings listed; the rest are counted
MAX_OTHER_ROWS = 20  # findings below the threshold listed in the collapsed section
MAX_CHARS = 60_000  # under GitHub's 65,536-character comment limit (job summaries allow 1 MiB)
MAX_CELL = 300
MAX_SETTING = 2000  # a settings line (e.g. every exclude glob of .kguard.yaml) in the footer
MAX_PROBLEMS = 50
MAX_GRAPH_EXAMPLES = 5
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~&:])")
_SHA = re.compile(r"[0-9a-fA-F]{7,64}")
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_SERVER = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]+)?")
ANALYSIS_TAG = "analysis"


def render(results: ScanResult | Sequence[ScanResult], *, threshold: Severity | None = Severity.HIGH,
           environ: Mapping[str, str] | None = None) -> str:
    """The Markdown report of one or several runs (``environ`` defaults to the process environment)."""
    runs = as_results(results)
    base = blob_base(os.environ if environ is None else environ)
    active = [f for r in runs for f in r.findings if not f.suppressed]
    blocking = [f for f in active if f.severity.blocks(threshold)]
    blocking_ids = {id(f) for f in blocking}
    others = [f for f in active if id(f) not in blocking_ids]
    out = [f"## kguard: {verdict_text(runs, threshold)}", "", *_counts_table(runs), ""]
    rules = {rule.id: rule for r in runs for rule in report_rules(r)}
    if blocking:
        title = f"Blocking findings (severity >= {threshold.label})" if threshold else "Blocking findings"
        out += [f"### {title}", "", *_findings_table(blocking, runs, rules, base, MAX_ROWS), ""]
    if others:
        label = "Findings below the threshold" if threshold is not None else "Findings (--fail-on none)"
        out += ["<details>", f"<summary>{label} ({len(others)})</summary>", "",
                *_findings_table(others, runs, rules, base, MAX_OTHER_ROWS), "", "</details>", ""]
    out += _analyses(runs, rules)
    out += _problems(runs)
    out += _footer(runs)
    text = "\n".join(out).rstrip("\n") + "\n"
    if len(text) > MAX_CHARS:  # never expected with the row limits; a hard stop keeps a comment postable
        text = text[: text.rfind("\n", 0, MAX_CHARS - 200) + 1] + "\n_Report cut to fit a GitHub comment; "
        text += "every finding is in the SARIF and JSON reports._\n"
    return guard_lines(text)


def verdict_text(runs: Sequence[ScanResult], threshold: Severity | None) -> str:
    """The terminal report's verdict line (one source of truth for its wording)."""
    from scanner.report.rich_report import verdict

    return verdict(runs, threshold).plain


def blob_base(environ: Mapping[str, str]) -> str | None:
    """``https://github.com/OWNER/REPO/blob/SHA/`` from the GitHub Actions variables, or None when one is missing or
    malformed (then links are repository-relative)."""
    server = environ.get("GITHUB_SERVER_URL", "").rstrip("/")
    repository = environ.get("GITHUB_REPOSITORY", "")
    sha = environ.get("GITHUB_SHA", "")
    if _SERVER.fullmatch(server) and _REPOSITORY.fullmatch(repository) and _SHA.fullmatch(sha):
        return f"{server}/{repository}/blob/{sha}/"
    return None


def escape(text: object, *, limit: int = MAX_CELL) -> str:
    """Untrusted text as inert Markdown on one line: control characters escaped, punctuation backslash-escaped,
    no @-mention."""
    shown = safe_text(str(text))
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    # "@name" would notify someone in a pull-request comment: a zero-width space after "@" keeps it plain text
    return _MARKDOWN_SPECIAL.sub(r"\\\1", shown).replace("@", "@\u200b")


def code(text: object, *, limit: int = MAX_CELL) -> str:
    """Untrusted text in a code span (backticks cannot close it; pipes cannot end the table cell), at most ``limit``
    characters: a huge object or file name must not push the rest of the report past `MAX_CHARS`."""
    shown = safe_text(str(text)).replace("`", "'").replace("|", "¦")
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return f"`{shown}`"


def link(finding: Finding, base: str | None) -> str:
    path, inside = relative_posix_path(finding.location.path)
    label = code(f"{path}:{finding.location.line}")
    if not inside or path.startswith("<"):
        return label
    target = f"{base or ''}{quote(path, safe='/')}#L{finding.location.line}"
    return f"[{label}]({target})"


def _counts_table(runs: Sequence[ScanResult]) -> list[str]:
    header = ["Run", *(s.label for s in SEVERITIES), "suppressed", "errors"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    rows = [run_counts(result) for result in runs]
    for result, row in zip(runs, rows, strict=True):
        lines.append(f"| {code(result.category)} | " + " | ".join(map(str, row)) + " |")
    if len(runs) > 1:
        lines.append("| **total** | " + " | ".join(f"**{sum(column)}**" for column in zip(*rows, strict=True)) + " |")
    return lines


def _findings_table(findings: Sequence[Finding], runs: Sequence[ScanResult], rules: dict, base: str | None,
                    limit: int) -> list[str]:
    several = len(runs) > 1
    run_of = {id(f): r.category for r in runs for f in r.findings}
    ordered = sorted(sort_findings(findings), key=lambda f: (-f.severity, category_key(f.category), f.rule_id))
    header = ["Severity", "Rule", "Object", "Location", "Message", *(["Run"] if several else [])]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for finding in ordered[:limit]:
        rule = rules.get(finding.rule_id)
        url = help_url(rule.help_url) if rule else ""
        rule_cell = f"[{code(finding.rule_id)}]({url})" if url else code(finding.rule_id)
        cells = [f"**{finding.severity.label}**" if finding.severity >= Severity.HIGH else finding.severity.label,
                 rule_cell, code(finding.resource.display()), link(finding, base), escape(sentence(finding.message))]
        if several:
            cells.append(code(run_of.get(id(finding), "")))
        lines.append("| " + " | ".join(cells) + " |")
    if len(ordered) > limit:
        lines += ["", f"_... and {len(ordered) - limit} more: every finding is in the SARIF and JSON reports._"]
    return lines


def _analyses(runs: Sequence[ScanResult], rules: dict) -> list[str]:
    """The whole-graph analyses: the graphs' counts and first notable edges and paths when the scan exported them
    (`ScanResult.graphs`), then one line per analysis rule with what it found (or "not run")."""
    lines = ["### Graph analyses", ""]
    stats = [(r.category, graph_stats(r.graphs)) for r in runs if r.graphs]
    if stats:
        header = ["Run", "namespaces", "workload groups (not isolated)", "connections", "cross-environment",
                  "escalation paths", "subjects"]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for run, st in stats:
            lines.append(f"| {code(run)} | {st['namespaces']} | {st['groups']} ({st['open_groups']}) | "
                         f"{st['edges']} | {st['cross']} | {st['paths']} | {st['subjects']} |")
        lines.append("")
        examples = [(run, text) for run, st in stats for text in st["examples"]]
        for run, text in examples[:MAX_GRAPH_EXAMPLES]:
            lines.append(f"- {text}" + (f" ({code(run)})" if len(runs) > 1 else ""))
        if len(examples) > MAX_GRAPH_EXAMPLES:
            lines.append(f"- _... and {len(examples) - MAX_GRAPH_EXAMPLES} more (the HTML report draws them all)_")
        if examples:
            lines.append("")
    analysis_rules = sorted((r for r in rules.values() if ANALYSIS_TAG in r.tags),
                            key=lambda r: (category_key(r.category), r.id))
    if not analysis_rules:
        return [*lines, "_Analysis rules not run (--no-analyses, or none selected)._", ""]
    for rule in analysis_rules:
        mine = [f for r in runs for f in r.findings if f.rule_id == rule.id and not f.suppressed]
        objects = {f.resource for f in mine}
        namespaces = {f.resource.namespace for f in mine if f.resource.namespace}
        what = f"{len(mine)} finding(s) on {len(objects)} object(s) in {len(namespaces)} namespace(s)" if mine \
            else "no finding"
        lines.append(f"- {escape(category_title(rule.category))}, {escape(rule.title)} ({code(rule.id)}): {what}")
    return [*lines, ""]


def graph_stats(graphs: Mapping[str, Any]) -> dict[str, Any]:
    """Counts of the reachability and RBAC graphs and their notable parts (cross-environment namespace pairs, the
    most severe escalation paths) as Markdown lines."""
    reach = graphs.get("reachability")
    reach = reach if isinstance(reach, Mapping) else {}
    groups = {g.get("id"): g for g in reach.get("groups", ()) if isinstance(g, Mapping)}
    edges = [e for e in reach.get("edges", ()) if isinstance(e, Mapping)]
    # above the analysis' group limit the export says which namespace reaches which instead of every group pair
    namespace_edges = [e for e in reach.get("namespace_edges", ()) if isinstance(e, Mapping)]
    cross = [e for e in edges if e.get("cross_environment")]

    def namespace(group_id: Any) -> str:
        return str(groups.get(group_id, {}).get("namespace", "?"))

    pairs = sorted({(namespace(e.get("source")), namespace(e.get("destination"))) for e in cross}
                   | {(str(e.get("source", "?")), str(e.get("destination", "?"))) for e in namespace_edges
                      if e.get("cross_environment")})
    examples = [f"cross-environment: {code(src)} → {code(dst)}" for src, dst in pairs]
    rbac = graphs.get("rbac")
    paths = [p for p in (rbac.get("paths", ()) if isinstance(rbac, Mapping) else ()) if isinstance(p, Mapping)]
    rank = {s.label: s for s in Severity}
    for path in sorted(paths, key=lambda p: -rank.get(str(p.get("severity")), Severity.INFO)):
        examples.append(f"escalation ({escape(path.get('severity', ''))}): {code(path.get('subject', ''))} → "
                        f"{code(path.get('role', ''))} → {code(path.get('permission', ''))} → "
                        f"{code(path.get('target', ''))}: {escape(path.get('gains', ''))}")
    return {"namespaces": len(reach.get("namespaces", ())), "groups": len(groups),
            "open_groups": sum(1 for g in groups.values() if not g.get("ingress_isolated")),
            "edges": len(edges) or len(namespace_edges), "cross": len(cross) or len(pairs), "paths": len(paths),
            "subjects": len({p.get("subject") for p in paths}),
            "examples": examples}


def _problems(runs: Sequence[ScanResult]) -> list[str]:
    """Input counts, then every input error, policy error, object not evaluated, skipped input and coverage gap
    (the first `MAX_PROBLEMS`, collapsed; the rest counted)."""
    items = sorted((row for r in runs for row in problem_rows(r)),
                   key=lambda item: (PROBLEM_KINDS.index(item[0]), item[1]))
    scanned = sum(len(r.scanned) for r in runs)
    resources = sum(r.resources for r in runs)
    lines = ["### Inputs", "", f"{scanned} file(s) scanned, {resources} resource(s) evaluated."]
    if items:
        counts = ", ".join(f"{sum(kind == k for k, _ in items)} {kind}" for kind in PROBLEM_KINDS
                           if any(k == kind for k, _ in items))
        lines += ["", "<details>", f"<summary>Not scanned or not evaluated: {counts}</summary>", ""]
        lines += [f"- {kind}: {code(text)}" for kind, text in items[:MAX_PROBLEMS]]
        if len(items) > MAX_PROBLEMS:
            lines.append(f"- _... and {len(items) - MAX_PROBLEMS} more (every one in the SARIF and JSON reports)_")
        lines += ["", "</details>"]
    return [*lines, ""]


def _footer(runs: Sequence[ScanResult]) -> list[str]:
    """What the scan ran with (policies and their sha256, configuration, suppression counts), collapsed."""
    import scanner

    rows = settings_rows(merged_settings(runs))
    return ["<details>", "<summary>What the scan ran with</summary>", "",
            *(f"- {escape(label)}: {code(text, limit=MAX_SETTING)}" for label, text in rows), "", "</details>", "",
            f"<sub>kguard {escape(scanner.__version__)}</sub>"]
