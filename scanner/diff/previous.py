"""`kguard audit --compare PREVIOUS`: a run's findings marked new, updated, unchanged or absent against an earlier
report of the same kind (the previous night's kguard JSON report or SARIF log), matched by fingerprint.

The previous report is read as data only: a file that is not a kguard JSON report (schema 1.x) or a SARIF log with
kguard fingerprints is a usage error naming the file. Absent findings are rebuilt from the report (rule, severity,
message, object, location) so that SARIF can list them with `baselineState: absent`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from scanner.diff.compare import FindingChange, compare_findings
from scanner.errors import UsageError
from scanner.model import Finding, Location, ResourceId, ScanResult, Severity, Suppression

FINGERPRINT_KEY = "kguard/v1"  # scanner.report.sarif.FINGERPRINT_KEY (not imported: sarif-om is heavy)
REPORT_FILES = {"kguard-compare.sarif": "sarif", "kguard-compare.md": "markdown"}


def _resource(data: Any) -> ResourceId:
    data = data if isinstance(data, dict) else {}
    return ResourceId(api_version=str(data.get("apiVersion") or ""), kind=str(data.get("kind") or ""),
                      name=str(data.get("name") or ""), namespace=data.get("namespace") or None)


def _severity(text: Any) -> Severity:
    try:
        return Severity.parse(str(text))
    except ValueError:
        return Severity.MEDIUM


def _location(path: Any, region: dict[str, Any]) -> Location:
    line = int(region.get("startLine") or region.get("line") or 1)
    column = int(region.get("startColumn") or region.get("column") or 1)
    return Location(path=str(path or "<unknown>"), line=line, column=column,
                    end_line=int(region.get("endLine") or region.get("end_line") or line),
                    end_column=int(region.get("endColumn") or region.get("end_column") or column))


def _was_suppressed(flag: bool) -> Suppression | None:
    return Suppression(kind="external", justification="suppressed in the previous report") if flag else None


def _from_json(data: dict[str, Any]) -> list[Finding]:
    out = []
    for item in data.get("findings") or []:
        if not isinstance(item, dict) or not item.get("fingerprint"):
            continue
        loc = item.get("location") if isinstance(item.get("location"), dict) else {}
        out.append(Finding(rule_id=str(item.get("rule_id") or ""), severity=_severity(item.get("severity")),
                           category=str(item.get("category") or ""), tags=tuple(item.get("tags") or ()),
                           message=str(item.get("message") or ""), resource=_resource(item.get("resource")),
                           location=_location(loc.get("path"), loc), fingerprint=str(item["fingerprint"]),
                           suppression=_was_suppressed(bool(item.get("suppressed")))))
    return out


def _from_sarif(data: dict[str, Any]) -> list[Finding]:
    out = []
    for run in data.get("runs") or []:
        for result in (run or {}).get("results") or []:
            fp = ((result or {}).get("partialFingerprints") or {}).get(FINGERPRINT_KEY)
            if not fp or result.get("baselineState") == "absent":
                continue
            props = result.get("properties") or {}
            physical = ((result.get("locations") or [{}])[0] or {}).get("physicalLocation") or {}
            uri = (physical.get("artifactLocation") or {}).get("uri")
            out.append(Finding(rule_id=str(result.get("ruleId") or ""), severity=_severity(props.get("severity")),
                               category=str(props.get("category") or ""), tags=tuple(props.get("tags") or ()),
                               message=str((result.get("message") or {}).get("text") or ""),
                               resource=_resource(props.get("resource")),
                               location=_location(uri, physical.get("region") or {}), fingerprint=str(fp),
                               suppression=_was_suppressed(bool(result.get("suppressions")))))
    return out


def load_previous(path: Path) -> list[Finding]:
    """The findings of an earlier kguard JSON report or SARIF log (absent results of a compared log skipped)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: --compare: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: --compare: not a kguard JSON report or SARIF log ({exc})") from None
    try:
        if isinstance(data, dict) and str(data.get("schema_version", "")).startswith("1."):
            return _from_json(data)
        if isinstance(data, dict) and isinstance(data.get("runs"), list):
            return _from_sarif(data)
    except (AttributeError, TypeError, ValueError) as exc:  # a field of the wrong type (a line that is no number)
        raise UsageError(f"{path}: --compare: not a kguard JSON report or SARIF log ({exc})") from None
    raise UsageError(f"{path}: --compare: not a kguard JSON report (schema 1.x) or SARIF log")


def compare_to_previous(result: ScanResult, previous: list[Finding]) -> list[FindingChange]:
    """``result``'s findings against ``previous`` (new, updated, unchanged), then the absent ones."""
    return compare_findings(previous, result.findings)


def with_absent(result: ScanResult, changes: list[FindingChange]) -> ScanResult:
    """``result`` with the absent findings added (for SARIF only: never for the verdict)."""
    absent = [c.finding for c in changes if c.state == "absent"]
    return dataclasses.replace(result, findings=[*result.findings, *absent])


def summary_lines(changes: list[FindingChange], shown: str, limit: int = 20) -> list[str]:
    """The stderr lead of a compared audit: counts, then each new, updated and absent finding."""
    counts = {state: sum(1 for c in changes if c.state == state) for state in ("new", "updated", "absent",
                                                                               "unchanged")}
    lines = [f"kguard: since {shown}: {counts['new']} new, {counts['updated']} updated, {counts['absent']} absent "
             f"(fixed), {counts['unchanged']} unchanged"]
    for state in ("new", "updated", "absent"):
        picked = [c.finding for c in changes if c.state == state]
        lines += [f"kguard: {state}: {f.severity.label} {f.rule_id} {f.resource.display()} "
                  f"({f.location.path}:{f.location.line}): {f.message}" for f in picked[:limit]]
        if len(picked) > limit:
            lines.append(f"kguard: {state}: ... and {len(picked) - limit} more")
    return lines


def render_markdown(changes: list[FindingChange], shown: str, threshold: Severity | None) -> str:
    from scanner.diff.markdown import finding_table
    from scanner.report.markdown import code

    counts = {state: sum(1 for c in changes if c.state == state) for state in ("new", "updated", "absent",
                                                                               "unchanged")}
    lines = [f"## kguard audit: since {code(shown)}", "",
             f"{counts['new']} new, {counts['updated']} updated, {counts['absent']} absent (fixed), "
             f"{counts['unchanged']} unchanged."]
    for state, title in (("new", "New since the previous audit"), ("updated", "Updated"),
                         ("absent", "Gone since the previous audit")):
        picked = [c for c in changes if c.state == state]
        if picked:
            lines += ["", f"### {title} ({len(picked)})", "", *finding_table(picked, None)]
    return "\n".join(lines) + "\n"


def render_sarif(result: ScanResult, changes: list[FindingChange]) -> str:
    from scanner.report import sarif

    states = {}
    for change in changes:
        states.setdefault(change.fingerprint, change.state)
    return sarif.render([with_absent(result, changes)],
                        baseline_state=lambda _run, finding: states.get(finding.fingerprint))


def write_compared(result: ScanResult, previous_path: Path, report_dir: Path | None,
                   threshold: Severity | None) -> list[str]:
    """Compare ``result`` with the report at ``previous_path``; write kguard-compare.sarif and .md into
    ``report_dir`` (when given); return the stderr lines that lead the audit's log."""
    changes = compare_to_previous(result, load_previous(previous_path))
    shown = previous_path.as_posix()
    if report_dir is not None:
        from scanner.safe_files import write_files

        texts = {"kguard-compare.sarif": render_sarif(result, changes),
                 "kguard-compare.md": render_markdown(changes, shown, threshold)}
        try:
            write_files(report_dir, texts)
        except OSError as exc:
            raise UsageError(f"{report_dir}: cannot write reports: {exc.strerror or exc}") from None
    from scanner.report.safe import safe_text

    return [safe_text(line) for line in summary_lines(changes, shown)]
