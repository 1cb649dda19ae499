"""`kguard diff` reports: text (terminal), JSON (schema docs/json-schema/kguard-diff-1.0.json), SARIF with
`baselineState`, Markdown for the pull request. Every list is sorted: same revisions, byte-identical output."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from scanner.diff.compare import FindingChange
from scanner.diff.deltas import Delta, Fact
from scanner.diff.revision import FILES_UNIT
from scanner.diff.run import DiffResult
from scanner.model import Finding, Location, ScanResult, Severity
from scanner.report._common import finding_fingerprint
from scanner.report.json_report import location_dict
from scanner.report.safe import escape_json, safe_text

SCHEMA_VERSION = "1.0"
SCHEMA_FILE = f"docs/json-schema/kguard-diff-{SCHEMA_VERSION}.json"
ASPECT_TITLES = {"network": "Network paths", "permission": "Effective permissions", "escalation": "Escalation paths",
                 "namespace-level": "Namespace Pod Security levels", "workload-level": "Workload Pod Security levels"}
CHANGE_WORDS = {
    "network": {"added": "opens", "removed": "closes", "changed": "changes ports of"},
    "permission": {"added": "grants", "removed": "revokes", "changed": "changes"},
    "escalation": {"added": "new escalation path", "removed": "removes escalation path", "changed": "changes"},
    "namespace-level": {"added": "new namespace", "removed": "removes namespace", "changed": "changes"},
    "workload-level": {"added": "new workload", "removed": "removes workload", "changed": "moves"},
}
MAX_TEXT_ROWS = 20
MAX_MARKDOWN_ROWS = 50


def unit_title(key: str) -> str:
    """``kguard/manifests/overlays/production`` -> ``manifests/overlays/production``; the files unit by name."""
    return "files and charts" if key == FILES_UNIT else key.removeprefix("kguard/")


def _where(location: Location | None) -> str:
    return f"{location.path}:{location.line}" if location else "(built-in)"


def delta_line(delta: Delta) -> str:
    """One sentence: what the change does, and the line responsible."""
    fact = delta.fact
    verb = CHANGE_WORDS[delta.aspect][delta.change]
    if delta.change == "changed":
        assert delta.before is not None and delta.after is not None
        what = f"{verb} {delta.key}: {delta.before.value} -> {delta.after.value}"
    else:
        what = f"{verb} {delta.key}" + ("" if fact.value == "granted" else f" ({fact.value})")
    flag = " [cross-environment]" if delta.aspect == "network" and fact.cross_environment else ""
    return f"{what}{flag} via {_where(fact.location)} ({fact.why})"


# --- JSON ----------------------------------------------------------------------------------------------------------

def _fact(fact: Fact | None) -> dict[str, Any] | None:
    if fact is None:
        return None
    return {"value": fact.value, "location": location_dict(fact.location) if fact.location else None,
            "why": fact.why, "severity": fact.severity.label if fact.severity is not None else None,
            "cross_environment": fact.cross_environment}


def _finding(change: FindingChange, threshold: Severity | None) -> dict[str, Any]:
    f = change.finding
    out: dict[str, Any] = {
        "state": change.state, "blocking": change.introduced(threshold), "rule_id": f.rule_id,
        "fingerprint": finding_fingerprint(f), "severity": f.severity.label, "message": f.message,
        "resource": f.resource.as_dict(), "location": location_dict(f.location), "suppressed": f.suppressed,
    }
    if change.before is not None and change.state == "updated":
        out["before"] = {"severity": change.before.severity.label, "suppressed": change.before.suppressed,
                         "location": location_dict(change.before.location)}
    return out


def build_json(diff: DiffResult, threshold: Severity | None) -> dict[str, Any]:
    """The comparison as JSON data (schema `kguard-diff` 1.0)."""
    findings, deltas = diff.blocking(threshold)
    import scanner

    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "kguard", "version": scanner.__version__},
        "base": diff.base,
        "head": diff.head,
        "fail_on_new": threshold.label if threshold is not None else "none",
        "exit_code": diff.exit_code(threshold),
        "blocking": {"findings": len(findings), "deltas": len(deltas)},
        "units": [{
            "unit": unit.key, "presence": unit.presence, "reused": unit.reused, "counts": unit.counts(),
            "findings": [_finding(c, threshold) for c in unit.findings],
            "deltas": [{"aspect": d.aspect, "change": d.change, "key": d.key, "blocking": d.introduced(threshold),
                        "before": _fact(d.before), "after": _fact(d.after)} for d in unit.deltas],
        } for unit in diff.units],
        "errors": [{"path": e.path, "line": e.line, "message": e.message} for e in diff.input_errors]
        + [{"path": e.policy, "line": None, "message": e.message} for e in diff.policy_errors],
    }


def render_json(diff: DiffResult, threshold: Severity | None) -> str:
    return escape_json(json.dumps(build_json(diff, threshold), indent=2, ensure_ascii=False, sort_keys=False)) + "\n"


# --- SARIF ---------------------------------------------------------------------------------------------------------

def sarif_runs(diff: DiffResult) -> tuple[list[ScanResult], dict[tuple[str, str], str]]:
    """One run per unit: the head's findings plus the absent ones, and (category, fingerprint) -> baselineState."""
    head = {r.category: r for r in diff.head_results}
    base = {r.category: r for r in diff.base_results}
    runs, states = [], {}
    for unit in diff.units:
        result = head.get(unit.key) or base[unit.key]
        absent = [c.finding for c in unit.findings if c.state == "absent"]
        present = [c.finding for c in unit.findings if c.state != "absent"]
        rules = list(result.rules)
        if unit.key in base and result is not base[unit.key]:
            known = {r.id for r in rules}
            rules += [r for r in base[unit.key].rules if r.id not in known]
        runs.append(dataclasses.replace(result, findings=[*present, *absent], rules=rules))
        for change in unit.findings:
            states.setdefault((unit.key, finding_fingerprint(change.finding)), change.state)
    return runs, states


def render_sarif(diff: DiffResult) -> str:
    from scanner.report import sarif

    runs, states = sarif_runs(diff)

    def state(run: ScanResult, finding: Finding) -> str | None:
        return states.get((run.category, finding_fingerprint(finding)))

    return sarif.render(runs, baseline_state=state)


# --- text ----------------------------------------------------------------------------------------------------------

def _capped(lines: Sequence[str], limit: int, indent: str) -> list[str]:
    shown = [f"{indent}{line}" for line in lines[:limit]]
    if len(lines) > limit:
        shown.append(f"{indent}... and {len(lines) - limit} more (--format json lists all)")
    return shown


def _finding_line(change: FindingChange) -> str:
    f = change.finding
    suppressed = " (suppressed)" if f.suppressed else ""
    raised = ""
    if change.state == "updated" and change.before is not None:
        raised = f" (was {change.before.severity.label}{', suppressed' if change.before.suppressed else ''})"
    return f"{f.severity.label:<8} {f.rule_id}  {f.location.path}:{f.location.line}  {f.message}{suppressed}{raised}"


def verdict(diff: DiffResult, threshold: Severity | None) -> str:
    findings, deltas = diff.blocking(threshold)
    code = diff.exit_code(threshold)
    if code == 2:
        return "errors: the head revision has input or policy errors (exit 2)"
    at = threshold.label if threshold is not None else "none"
    if code == 1:
        return (f"FAIL: the change introduces {len(findings)} finding(s) and {len(deltas)} path(s) at or above "
                f"{at}")
    return f"PASS: nothing introduced at or above {at}"


def render_text(diff: DiffResult, threshold: Severity | None) -> str:
    head = diff.head if diff.head == "working tree" else diff.head[:12]
    lines = [f"kguard diff {diff.base[:12]}..{head}"]
    for unit in diff.units:
        counts = unit.counts()
        changed = [c for c in unit.findings if c.state != "unchanged"]
        if not changed and not unit.deltas:
            continue
        presence = {"added": " (new in head)", "removed": " (gone in head)"}.get(unit.presence, "")
        lines += ["", f"{unit_title(unit.key)}{presence}: {counts['new']} new, {counts['absent']} fixed, "
                      f"{counts['updated']} updated, {counts['unchanged']} unchanged"]
        for state, title in (("new", "new"), ("updated", "updated"), ("absent", "fixed")):
            rows = [_finding_line(c) for c in changed if c.state == state]
            if rows:
                lines.append(f"  {title}:")
                lines += _capped(rows, MAX_TEXT_ROWS, "    ")
        for aspect, title in ASPECT_TITLES.items():
            rows = [delta_line(d) for d in unit.deltas if d.aspect == aspect]
            if rows:
                lines.append(f"  {title.lower()}:")
                lines += _capped(rows, MAX_TEXT_ROWS, "    ")
    unchanged = sum(u.counts()["unchanged"] for u in diff.units)
    lines += ["", f"{unchanged} existing finding(s) unchanged (not blocking)", verdict(diff, threshold)]
    return "\n".join(safe_text(line) for line in lines) + "\n"
