"""SARIF 2.1.0 for GitHub code scanning, built with `sarif-om` and serialised deterministically.

One run per `ScanResult` (several = one per Kustomize overlay or cluster, each with its own
`automationDetails.id`). Input problems, skipped inputs, policy errors and coverage gaps become invocation
notifications, so nothing is dropped silently; what the scan ran with is the invocation's `settings` property.
Message texts (shown by code scanning) go through `safe_text`; the serialised log escapes the control characters
`json.dumps` leaves raw.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attr
import sarif_om as om

import scanner
from scanner.engine.catalogue import SECURITY_SEVERITY, Rule
from scanner.model import Finding, Location, RelatedLocation, ResourceId, ScanResult, Severity
from scanner.report import json_text
from scanner.report._common import (
    PROJECT_URL,
    as_results,
    coverage_text,
    finding_fingerprint,
    format_field_path,
    help_url,
    path_to_uri,
    relative_posix_path,
    remediation_for,
    report_rules,
    safe_text,
    sentence,
    sort_findings,
)
from scanner.report.safe import escape_json

if TYPE_CHECKING:
    from scanner.safe_files import Producer

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
TOOL_NAME = "kguard"
INFORMATION_URI = PROJECT_URL
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "kguard/v1"
MAX_DESCRIPTION = 1024
MAX_TAGS = 10
LEVELS = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
# Notification descriptors (tool.driver.notifications), in index order.
NOTIFICATIONS = (
    ("input-error", "InputError", "An input could not be read or rendered; its objects were not scanned."),
    ("skipped-input", "SkippedInput", "An input was not scanned (for example YAML that is not a Kubernetes object)."),
    ("not-evaluated", "NotEvaluated", "An object or policy could not be evaluated offline (reported, not guessed)."),
    ("policy-error", "PolicyError", "A policy failed to compile or evaluate; the other policies still ran."),
    ("coverage-gap", "CoverageGap", "Part of a live cluster could not be read, so it was not audited."),
    ("outside-source-root", "OutsideSourceRoot", "A finding points at a file outside the source root."),
)
_NOTIFICATION_INDEX = {ident: index for index, (ident, _, _) in enumerate(NOTIFICATIONS)}
# Keys written first, in this order, for a log that reads top-down; the others follow in sarif-om's order.
_KEY_ORDER = ("$schema", "version", "id", "ruleId", "ruleIndex", "name", "kind", "level", "status", "message", "text",
              "shortDescription", "fullDescription", "uri", "uriBaseId", "startLine", "startColumn", "endLine",
              "endColumn", "physicalLocation", "logicalLocations")
_KEY_RANK = {key: rank for rank, key in enumerate(_KEY_ORDER)}


# (run, finding) -> the finding's SARIF baselineState ("new", "absent", "unchanged", "updated"), or None
BaselineState = Callable[[ScanResult, Finding], str | None]

# sarif-om 1.0.4 was generated from SARIF 2.1.0-rtm.4, where the final `suppression.status` was still `state`.
_RENAMED = {(om.Suppression, "state"): "status"}


def render(results: ScanResult | Sequence[ScanResult], *, source_root: Path | None = None,
           baseline_state: BaselineState | None = None) -> str:
    """The SARIF log for one or several scan results, as indented JSON ending in a newline.

    ``source_root`` only matters for absolute finding paths, which are made relative to it (default: cwd).
    ``baseline_state`` (`kguard diff`) gives each result its `baselineState`: new, absent, unchanged or updated.
    """
    return escape_json(json_text.dumps(_log(results, source_root, baseline_state), end="\n", plain=True))


def producer(results: ScanResult | Sequence[ScanResult], *, source_root: Path | None = None,
             baseline_state: BaselineState | None = None) -> Producer:
    """`render`'s text as a function that hands it to a write function piece by piece (a large log is never held
    as one string). The log is built here, so its errors come before anything is written, except for its results,
    which are made as they are written (`json_text.Items`; the file writer leaves no file behind if one fails)."""
    log = _log(results, source_root, baseline_state)
    return lambda write: json_text.dump(log, lambda piece: write(escape_json(piece)), end="\n", plain=True)


def _log(results: ScanResult | Sequence[ScanResult], source_root: Path | None,
         baseline_state: BaselineState | None) -> dict[str, Any]:
    """The SARIF log as JSON data."""
    runs = as_results(results)
    ids = [automation_id(result) for result in runs]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"SARIF runs need distinct categories; repeated: {', '.join(duplicates)}")
    log = om.SarifLog(
        runs=[build_run(result, source_root, baseline_state) for result in runs],
        version=SARIF_VERSION,
        schema_uri=SCHEMA_URI,
    )
    return to_json(log)


def automation_id(result: ScanResult) -> str:
    return f"{result.category}/"


def level_of(severity: Severity) -> str:
    return LEVELS[severity]


def build_run(result: ScanResult, source_root: Path | None = None,
              baseline_state: BaselineState | None = None) -> om.Run:
    rules = report_rules(result)
    rule_index = {rule.id: index for index, rule in enumerate(rules)}
    by_id = {rule.id: rule for rule in rules}
    findings = sorted(sort_findings(result.findings), key=lambda f: _result_key(f, source_root))
    outside = [location.path for f in findings for location in _locations(f)
               if not relative_posix_path(location.path, source_root)[1]]

    def results() -> Iterator[_Json]:  # made as they are written (`json_text.Items`): tens of MB at 50k objects
        for f in findings:
            state = baseline_state(result, f) if baseline_state is not None else None
            yield _result(f, by_id, rule_index, source_root, state)

    return om.Run(
        tool=om.Tool(driver=_driver(rules)),
        automation_details=om.RunAutomationDetails(id=automation_id(result)),
        column_kind="unicodeCodePoints",
        original_uri_base_ids={
            SRCROOT: om.ArtifactLocation(description=om.Message(text="The root of the scanned repository."))
        },
        invocations=[_invocation(result, rule_index, source_root, outside)],
        results=json_text.Items(len(findings), results),
    )


def _driver(rules: list[Rule]) -> om.ToolComponent:
    return om.ToolComponent(
        name=TOOL_NAME,
        semantic_version=scanner.__version__,
        information_uri=INFORMATION_URI,
        rules=[_rule(rule) for rule in rules],
        notifications=[
            om.ReportingDescriptor(id=ident, name=name, short_description=om.MultiformatMessageString(text=text))
            for ident, name, text in NOTIFICATIONS
        ],
    )


def _rule(rule: Rule) -> om.ReportingDescriptor:
    tags = [rule.category, *(t for t in dict.fromkeys(rule.tags) if t != rule.category)][:MAX_TAGS]
    props: dict[str, Any] = {
        "security-severity": SECURITY_SEVERITY[rule.severity],
        "precision": "high",
        "severity": rule.severity.label,
        "category": rule.category,
    }
    if rule.pss_level:
        props["pss-level"] = rule.pss_level
        if rule.pss_check:
            props["pss-check"] = rule.pss_check[0] if len(rule.pss_check) == 1 else list(rule.pss_check)
    return om.ReportingDescriptor(
        id=rule.id,
        name=rule.kind,
        short_description=om.MultiformatMessageString(text=safe_text(rule.title, prose=True)),
        full_description=om.MultiformatMessageString(text=_clip(safe_text(rule.description or rule.title,
                                                                          prose=True))),
        help=om.MultiformatMessageString(text=_help_text(rule), markdown=_help_markdown(rule)),
        help_uri=help_url(rule.help_url) or None,  # SARIF wants absolute URIs (SARIF1002)
        default_configuration=om.ReportingConfiguration(level=level_of(rule.severity)),
        properties=property_bag(props, tags=tags),
    )


def _clip(text: str, limit: int = MAX_DESCRIPTION) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _pss_line(rule: Rule) -> str:
    if not rule.pss_level:
        return ""
    checks = ", ".join(rule.pss_check) or "-"
    return f"Pod Security Standards: level {rule.pss_level}, check {checks}."


def _help_text(rule: Rule) -> str:
    return "\n\n".join(safe_text(part, prose=True) for part in _help_parts(rule))


def _help_parts(rule: Rule) -> list[str]:
    parts = [sentence(rule.description or rule.title)]
    if rule.remediation:
        parts.append(f"Remediation: {sentence(rule.remediation)}")
    if rule.pss_level:
        parts.append(_pss_line(rule))
    if help_url(rule.help_url):
        parts.append(f"More information: {help_url(rule.help_url)}")
    return parts


def _help_markdown(rule: Rule) -> str:
    parts = [f"**{rule.title}** ({rule.severity.label}, {rule.category})", sentence(rule.description or rule.title)]
    if rule.remediation:
        parts.append(f"**Remediation:** {sentence(rule.remediation)}")
    if rule.pss_level:
        checks = ", ".join(f"`{c}`" for c in rule.pss_check) or "-"
        parts.append(f"Pod Security Standards: level `{rule.pss_level}`, check {checks}.")
    if help_url(rule.help_url):
        parts.append(f"[More information]({help_url(rule.help_url)})")
    return "\n\n".join(safe_text(part, prose=True) for part in parts)


def _result(
    finding: Finding,
    rules: dict[str, Rule],
    rule_index: dict[str, int],
    source_root: Path | None,
    baseline_state: str | None = None,
) -> _Json:
    """The SARIF result of one finding, as JSON data (a log's results are most of it: no sarif-om objects)."""
    text = safe_text(sentence(finding.message))
    remediation = remediation_for(finding, rules)
    if remediation:
        text = f"{text} Remediation: {safe_text(sentence(remediation), prose=True)}"
    fp = finding_fingerprint(finding)
    props: dict[str, Any] = {
        "severity": finding.severity.label,
        "category": finding.category,
        "resource": finding.resource.as_dict(),
    }
    if finding.field_path:
        props["field-path"] = format_field_path(finding.field_path)
    if finding.constraint:
        props["constraint"] = finding.constraint
    if finding.enforcement_action:
        props["enforcement-action"] = finding.enforcement_action
    primary = _physical(finding.location, source_root)
    return _json(om.Result, {
        "message": _json(om.Message, {"text": text}),
        "rule_id": finding.rule_id,
        "rule_index": rule_index[finding.rule_id],
        "level": level_of(finding.severity),
        "baseline_state": baseline_state,
        "locations": [_json(om.Location, {"physical_location": primary,
                                          "logical_locations": [_logical(finding.resource)]})],
        "related_locations": [_related(r, i, source_root) for i, r in enumerate(finding.related, 1)] or None,
        "partial_fingerprints": {"primaryLocationLineHash": fp, FINGERPRINT_KEY: fp},
        "suppressions": [_suppression(finding)] if finding.suppression else None,
        "properties": _property_json(props, tags=list(finding.tags) or None),
    })


def _suppression(finding: Finding) -> _Json:
    assert finding.suppression is not None
    sup = finding.suppression
    extra = {k: v for k, v in (("owner", sup.owner), ("expires", sup.expires)) if v}
    return _json(om.Suppression, {
        "kind": sup.kind, "state": "accepted", "justification": safe_text(sup.justification) or None,
        "properties": _property_json(extra) if extra else None,
    })


def _result_key(finding: Finding, source_root: Path | None) -> tuple[Any, ...]:
    """A result's place in the log: its primary location's uri, start line and column (as `_physical` writes them),
    rule and fingerprint."""
    line, column, _, _ = _region(finding.location)
    return _uri(finding.location.path, source_root), line, column, finding.rule_id, finding_fingerprint(finding)


def _locations(finding: Finding) -> list[Location]:
    """The places a finding's result names: its own and its related objects' (for `outside-source-root`)."""
    return [finding.location, *(r.location for r in finding.related if r.location)]


def _physical(location: Location, source_root: Path | None) -> _Json:
    line, column, end_line, end_column = _region(location)
    return _json(om.PhysicalLocation, {
        "artifact_location": _json(om.ArtifactLocation, {"uri": _uri(location.path, source_root),
                                                         "uri_base_id": SRCROOT}),
        "region": _json(om.Region, {"start_line": line, "start_column": column, "end_line": end_line,
                                    "end_column": end_column}),
    })


def _uri(path: str, source_root: Path | None) -> str:
    """A finding path as the relative URI its artifact location gives (`%SRCROOT%`-based)."""
    return path_to_uri(relative_posix_path(path, source_root)[0])


def _region(location: Location) -> tuple[int, int, int, int]:
    """Start line and column, end line and column as SARIF needs them: 1-based, the end never before the start."""
    line = max(location.line, 1)
    column = max(location.column, 1)
    end_line = max(location.end_line, line)
    end_column = max(location.end_column, 1) if end_line > line else max(location.end_column, column)
    return line, column, end_line, end_column


def resource_fqn(resource: ResourceId) -> str:
    """`production/Deployment/api-gateway`, or `ClusterRole/admin` for cluster-scoped objects."""
    ns = f"{resource.namespace}/" if resource.namespace else ""
    return f"{ns}{resource.kind}/{resource.name}"


def _logical(resource: ResourceId) -> _Json:
    return _json(om.LogicalLocation, {"name": resource.name, "fully_qualified_name": resource_fqn(resource),
                                      "kind": "resource"})


def _related(related: RelatedLocation, ident: int, source_root: Path | None) -> _Json:
    physical = _physical(related.location, source_root) if related.location else None
    return _json(om.Location, {
        "id": ident,
        "physical_location": physical,
        "logical_locations": [_logical(related.resource)],
        "message": _json(om.Message, {"text": safe_text(related.message or related.resource.display())}),
    })


def _invocation(
    result: ScanResult, rule_index: dict[str, int], source_root: Path | None, outside: list[str]
) -> om.Invocation:
    execution: list[tuple[Any, ...]] = []
    for err in result.input_errors:
        execution.append(("input-error", "error", err.path, err.line, err.message, None))
    for skip in result.skipped:
        execution.append(("skipped-input", "note", skip.path, skip.line, skip.reason, None))
    for skip in result.not_evaluated:
        execution.append(("not-evaluated", "warning", skip.path, skip.line, skip.reason, None))
    for gap in result.coverage:
        execution.append(("coverage-gap", "warning", None, None, coverage_text(gap), dict(gap)))
    for path in sorted(set(outside)):
        execution.append(("outside-source-root", "warning", None, None,
                          f"{path} is outside the source root; code scanning cannot show it.", None))
    configuration = [
        _policy_error(err.policy, err.message, rule_index)
        for err in sorted(result.policy_errors, key=lambda e: (e.policy, e.message))
    ]
    execution.sort(key=lambda n: (_NOTIFICATION_INDEX[n[0]], n[2] or "", n[3] or 0, n[4]))
    return om.Invocation(
        execution_successful=not (result.input_errors or result.policy_errors),
        tool_execution_notifications=[_notification(*n, source_root=source_root) for n in execution] or None,
        tool_configuration_notifications=configuration or None,
        properties=property_bag({
            "scanned": len(result.scanned),
            "resources": result.resources,
            "input-errors": len(result.input_errors),
            "policy-errors": len(result.policy_errors),
            "skipped": len(result.skipped),
            "not-evaluated": len(result.not_evaluated),
            "coverage-gaps": len(result.coverage),
            "settings": result.settings,
        }),
    )


def _notification(
    ident: str,
    level: str,
    path: str | None,
    line: int | None,
    text: str,
    props: dict[str, Any] | None,
    *,
    source_root: Path | None,
) -> om.Notification:
    locations = None
    if path:
        region = om.Region(start_line=line) if line and line > 0 else None
        artifact = om.ArtifactLocation(uri=_uri(path, source_root), uri_base_id=SRCROOT)
        locations = [om.Location(physical_location=om.PhysicalLocation(artifact_location=artifact, region=region))]
        where = f"{path}:{line}" if line else path
        text = f"{where}: {text}"
    return om.Notification(
        message=om.Message(text=safe_text(text)),
        level=level,
        descriptor=om.ReportingDescriptorReference(id=ident, index=_NOTIFICATION_INDEX[ident]),
        locations=locations,
        properties=property_bag(props) if props else None,
    )


def _policy_error(policy: str, message: str, rule_index: dict[str, int]) -> om.Notification:
    rule = None
    if policy in rule_index:
        rule = om.ReportingDescriptorReference(id=policy, index=rule_index[policy])
    return om.Notification(
        message=om.Message(text=safe_text(f"policy {policy}: {message}")),
        level="error",
        descriptor=om.ReportingDescriptorReference(id="policy-error", index=_NOTIFICATION_INDEX["policy-error"]),
        associated_rule=rule,
    )


def property_bag(props: dict[str, Any], tags: list[str] | None = None) -> om.PropertyBag:
    """A SARIF property bag: `tags` plus arbitrary keys (e.g. `security-severity`), kept in the given order."""
    bag = om.PropertyBag(tags=tags)
    vars(bag).update(props)
    return bag


def to_json(obj: Any) -> Any:
    """sarif-om objects as JSON data: spec (camelCase) names, None and sarif-om's sentinel defaults dropped.

    `level` is always written, even when it equals SARIF's default ("warning"), so readers need not know defaults.
    Keys come in `_KEY_ORDER` first, then in sarif-om's field order, then a property bag's own entries.
    """
    if type(obj) is _Json:
        return obj
    layout = _layout(type(obj))
    if layout is not None:
        return _attrs_json(obj, layout)
    if isinstance(obj, dict):
        return {str(key): to_json(value) for key, value in obj.items() if value is not None}
    if isinstance(obj, list | tuple):
        return [to_json(value) for value in obj]
    return obj


@dataclass(frozen=True, slots=True)
class _Layout:
    """How `to_json` writes one sarif-om class: (attribute, JSON name, whether it is left out at its default,
    the default) per field, in output order, and the attribute names (anything else is a property-bag entry)."""

    fields: tuple[tuple[str, str, bool, Any], ...]
    attributes: frozenset[str]


@functools.cache
def _layout(cls: type) -> _Layout | None:
    """The `_Layout` of an attrs class (worked out once per class); None for any other type."""
    if not attr.has(cls):
        return None
    fields = []
    for fld in attr.fields(cls):
        name = _RENAMED.get((cls, fld.name), fld.metadata["schema_property_name"])
        default = _default(fld)
        fields.append((fld.name, name, fld.name != "level" and default is not None, default))
    ranked = sorted(enumerate(fields), key=lambda item: (_rank(item[1][1]), item[0]))
    return _Layout(fields=tuple(field for _, field in ranked), attributes=frozenset(f[0] for f in fields))


def _rank(key: str) -> int:
    return _KEY_RANK.get(key, len(_KEY_RANK))


_PLAIN = frozenset({str, int, bool, float})  # `to_json` gives these back unchanged


class _Json(dict):  # type: ignore[type-arg]
    """A sarif-om object already turned into JSON data (`to_json` passes it through)."""


def _json(cls: type, values: dict[str, Any], extra: dict[str, Any] | None = None) -> _Json:
    """``to_json(cls(**values))`` with ``extra`` as property-bag entries, without building the sarif-om object."""
    return _fields_json(_given_fields(cls, tuple(values)), values, extra or {})


@functools.cache
def _given_fields(cls: type, given: tuple[str, ...]) -> tuple[tuple[str, str, bool, Any], ...]:
    """The `_Layout` fields of ``cls`` that can be written when only ``given`` are set: those and the ones whose
    default is written anyway (`level`), in output order."""
    layout = _layout(cls)
    assert layout is not None
    unknown = set(given) - layout.attributes
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {sorted(unknown)[0]!r}")
    return tuple(f for f in layout.fields if f[0] in given or (f[3] is not None and not f[2]))


def _property_json(props: dict[str, Any], tags: list[str] | None = None) -> _Json:
    """``to_json(property_bag(props, tags))``."""
    return _json(om.PropertyBag, {"tags": tags}, props)


def _attrs_json(obj: Any, layout: _Layout) -> _Json:
    values = vars(obj)
    return _fields_json(layout.fields, values, {k: v for k, v in values.items() if k not in layout.attributes})


def _fields_json(fields: tuple[tuple[str, str, bool, Any], ...], values: dict[str, Any], extra: dict[str, Any]
                 ) -> _Json:
    """``fields`` (`_Layout` entries, ``values`` by attribute name: a missing one has its default), then the
    property-bag entries."""
    out = _Json()
    for attribute, name, omit_default, default in fields:
        value = values.get(attribute, default)
        if value is None or (omit_default and value == default):
            continue
        out[name] = value if type(value) in _PLAIN else to_json(value)
    ranked_extra = False
    for key, value in extra.items():
        if value is not None:
            out[key] = value if type(value) in _PLAIN else to_json(value)
            ranked_extra = ranked_extra or key in _KEY_RANK
    if ranked_extra:  # an entry named like a well-known key moves up among the fields (a stable sort by rank)
        return _Json(sorted(out.items(), key=lambda item: _rank(item[0])))
    return out


def _default(fld: attr.Attribute) -> Any:  # type: ignore[type-arg]
    default: Any = fld.default
    if isinstance(default, attr.Factory):  # type: ignore[arg-type]
        return default.factory()
    return None if default is attr.NOTHING else default


# -- `kguard fix`: proposed edits as SARIF `fixes` ---------------------------------------------------------------
FileEdit = tuple[str, str | None, str]  # (path, old text or None for a new file, new text)


def fix_object(description: str, edits: Sequence[FileEdit], source_root: Path | None = None) -> dict[str, Any]:
    """A SARIF `fix`: one artifactChange per file, one replacement per changed run of lines (character regions,
    so an insertion at the end of a file needs no line past the last)."""
    import difflib

    changes = []
    for path, old, new in sorted(edits, key=lambda edit: edit[0]):
        before = (old or "").splitlines(keepends=True)
        after = new.splitlines(keepends=True)
        starts = [0]
        for line in before:
            starts.append(starts[-1] + len(line))
        replacements = []
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes():
            if tag == "equal":
                continue
            replacement: dict[str, Any] = {"deletedRegion": {"charOffset": starts[i1], "charLength": starts[i2] -
                                                             starts[i1]}}
            if j2 > j1:
                replacement["insertedContent"] = {"text": "".join(after[j1:j2])}
            replacements.append(replacement)
        changes.append({"artifactLocation": {"uri": _uri(path, source_root), "uriBaseId": SRCROOT},
                        "replacements": replacements})
    return {"description": {"text": description}, "artifactChanges": changes}


def attach_fixes(log_text: str, fixes: dict[str, dict[str, Any]]) -> str:
    """``log_text`` (a rendered SARIF log) with ``fixes`` (finding fingerprint -> `fix_object`) on its results."""
    log = json.loads(log_text)
    for run in log.get("runs", []):
        for result in run.get("results", []):
            fix = fixes.get((result.get("partialFingerprints") or {}).get(FINGERPRINT_KEY, ""))
            if fix is not None:
                result["fixes"] = [fix]
    return escape_json(json_text.dumps(log, default=json.JSONEncoder().default, end="\n"))
