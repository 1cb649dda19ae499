"""The JSON report: a versioned document (schema: docs/json-schema/kguard-report-1.1.json), sorted and stable.

Several scan results (one per overlay or cluster) share one document; every per-run entry names its run (the
result's `category`), so the same base-file finding seen through two overlays stays two entries. Strings keep the
scanned data exactly; control characters that `json.dumps` would leave raw (DEL, C1, line separators, bidi
controls) are written as ``\\uXXXX`` escapes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import scanner
from scanner.model import Finding, Location, ScanResult, Severity
from scanner.report import json_text
from scanner.report._common import (
    CATEGORY_ORDER,
    as_results,
    category_key,
    finding_fingerprint,
    merged_settings,
    relative_posix_path,
    remediation_for,
    report_rules,
    sort_findings,
)
from scanner.report.safe import escape_json

if TYPE_CHECKING:
    from scanner.safe_files import Producer

SCHEMA_VERSION = "1.1"


def render(results: ScanResult | Sequence[ScanResult]) -> str:
    """The JSON report for one or several scan results, indented, ending in a newline."""
    return escape_json(json_text.dumps(build(results), end="\n", plain=True))


def producer(results: ScanResult | Sequence[ScanResult]) -> Producer:
    """`render`'s text as a function that hands it to a write function piece by piece (a large report is never
    held as one string). The report is built here, so its errors come before anything is written."""
    data = build(results)
    return lambda write: json_text.dump(data, lambda piece: write(escape_json(piece)), end="\n", plain=True)


def build(results: ScanResult | Sequence[ScanResult]) -> dict[str, Any]:
    """The report as plain data (what `render` serialises)."""
    runs = as_results(results)
    findings: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    for result in runs:
        rules = {rule.id: rule for rule in report_rules(result)}
        for finding in sort_findings(result.findings):
            entry = finding_dict(finding, remediation_for(finding, rules), result.category)
            loc = entry["location"]
            key = (loc["path"], loc["line"], loc["column"], finding.rule_id, finding.message, entry["fingerprint"])
            findings.append(((*key, result.category), entry))
    findings.sort(key=lambda item: item[0])
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "kguard", "version": scanner.__version__},
        "settings": merged_settings(runs),
        "scan": _scan(runs),
        "summary": _summary([f for r in runs for f in r.findings]),
        "findings": [entry for _, entry in findings],
    }


def location_dict(location: Location) -> dict[str, Any]:
    """A location with its path normalised as in SARIF (repository-relative, posix), not percent-encoded."""
    return {
        "path": relative_posix_path(location.path)[0],
        "line": location.line,
        "column": location.column,
        "end_line": location.end_line,
        "end_column": location.end_column,
    }


def finding_dict(finding: Finding, remediation: str, run: str) -> dict[str, Any]:
    sup = finding.suppression
    return {
        "rule_id": finding.rule_id,
        "fingerprint": finding_fingerprint(finding),
        "run": run,
        "severity": finding.severity.label,
        "category": finding.category,
        "tags": list(finding.tags),
        "message": finding.message,
        "remediation": remediation,
        "resource": finding.resource.as_dict(),
        "location": location_dict(finding.location),
        "field_path": list(finding.field_path),
        "constraint": finding.constraint,
        "enforcement_action": finding.enforcement_action,
        "related": [
            {
                "resource": rel.resource.as_dict(),
                "location": location_dict(rel.location) if rel.location else None,
                "message": rel.message,
            }
            for rel in finding.related
        ],
        "suppressed": finding.suppressed,
        "suppression": None if sup is None else {
            "kind": sup.kind, "justification": sup.justification, "owner": sup.owner, "expires": sup.expires,
        },
    }


def _scan(runs: list[ScanResult]) -> dict[str, Any]:
    def entries(attr_name: str, fields: tuple[str, ...]) -> list[dict[str, Any]]:
        out = [{"run": r.category, **{f: getattr(item, f) for f in fields}}
               for r in runs for item in getattr(r, attr_name)]
        return sorted(out, key=lambda e: tuple((e[k] is None, "" if e[k] is None else e[k]) for k in ("run", *fields)))

    coverage = [{"run": r.category, **gap} for r in runs for gap in r.coverage]
    return {
        "runs": [r.category for r in runs],
        "scanned": sorted({path for r in runs for path in r.scanned}),
        "resources": sum(r.resources for r in runs),
        "skipped": entries("skipped", ("path", "line", "reason")),
        "input_errors": entries("input_errors", ("path", "line", "message")),
        "policy_errors": entries("policy_errors", ("policy", "message")),
        "not_evaluated": entries("not_evaluated", ("path", "line", "reason")),
        "coverage": sorted(coverage, key=lambda e: json.dumps(e, sort_keys=True, default=str)),
    }


def _summary(findings: list[Finding]) -> dict[str, Any]:
    """Counts of unsuppressed findings by severity and by category, plus the suppressed count."""
    active = [f for f in findings if not f.suppressed]
    categories = sorted({*CATEGORY_ORDER, *(f.category for f in findings)}, key=category_key)
    return {
        "total": len(findings),
        "unsuppressed": len(active),
        "suppressed": len(findings) - len(active),
        "by_severity": {s.label: sum(f.severity == s for f in active) for s in sorted(Severity, reverse=True)},
        "by_category": {c: sum(f.category == c for f in active) for c in categories},
    }
