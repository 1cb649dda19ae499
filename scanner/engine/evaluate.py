"""Constraints x resources -> Findings, with Gatekeeper matching and kguard's Pod Security levels."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scanner.engine import runner
from scanner.engine.backend import Backend, EvalFailure
from scanner.engine.catalogue import Rule
from scanner.engine.match import Undecided, kinds_match, matches
from scanner.engine.review import inventory, namespaces_by_name, review
from scanner.engine.templates import Constraint, Template, TemplateSet
from scanner.model import (
    FieldPath,
    Finding,
    Location,
    PolicyError,
    RelatedLocation,
    Resource,
    ResourceId,
    Severity,
    Skipped,
    fingerprint,
)

PSS_LABEL = "pod-security.kubernetes.io/enforce"
PSS_LEVELS = ("privileged", "baseline", "restricted")


@dataclass(slots=True)
class Evaluation:
    findings: list[Finding] = field(default_factory=list)
    errors: list[PolicyError] = field(default_factory=list)
    not_evaluated: list[Skipped] = field(default_factory=list)


def severity_for(rule_severity: Severity, action: str) -> Severity:
    """deny keeps the rule's severity, warn caps it at medium, dryrun is info (never fails a scan)."""
    if action == "dryrun":
        return Severity.INFO
    if action == "warn":
        return min(rule_severity, Severity.MEDIUM)
    return rule_severity


def pss_applies(policy_level: str | None, namespace_level: str) -> bool:
    """A baseline policy runs at baseline and restricted, a restricted one only at restricted."""
    if policy_level is None:
        return True
    return PSS_LEVELS.index(namespace_level) >= PSS_LEVELS.index(policy_level)


def overridden_checks(templates: TemplateSet) -> frozenset[str]:
    """Baseline check ids that a restricted policy in the set replaces (upstream's OverrideCheckIDs)."""
    return frozenset(check for t in templates.templates.values() if t.rule and t.rule.pss_level == "restricted"
                     for check in t.rule.pss_overrides)


def _pss_skip(rule: Rule | None, level: str, overridden: frozenset[str]) -> bool:
    """Whether a Pod Security policy does not run at ``level`` (too strict, or replaced by a restricted check)."""
    if rule is None or rule.pss_level is None:
        return False
    if not pss_applies(rule.pss_level, level):
        return True
    return (level == "restricted" and rule.pss_level == "baseline" and bool(rule.pss_check)
            and set(rule.pss_check) <= overridden)


def namespace_pss_level(namespace: dict[str, Any] | None, default: str) -> str:
    labels = ((namespace or {}).get("metadata") or {}).get("labels") or {}
    level = labels.get(PSS_LABEL)
    return level if level in PSS_LEVELS else default


def _field_path(details: dict[str, Any]) -> FieldPath:
    raw = details.get("field_path")
    if not isinstance(raw, list) or not all(isinstance(p, (str, int)) and not isinstance(p, bool) for p in raw):
        return ()
    return tuple(raw)


def _location(resource: Resource, path: FieldPath) -> Location:
    file, pos = resource.locate(path)
    return Location(path=file, line=pos.line, column=pos.column, end_line=pos.end_line, end_column=pos.end_column)


def _identity_key(api_version: str, kind: str, namespace: str | None, name: str) -> tuple[str, str, str, str]:
    return (api_version.rpartition("/")[0], kind, namespace or "", name)


def _related(details: dict[str, Any], index: dict[tuple[str, str, str, str], Resource]) -> tuple[RelatedLocation, ...]:
    related = []
    for item in details.get("related") or []:
        if not isinstance(item, dict):
            continue
        ident = ResourceId(api_version=str(item.get("apiVersion", "")), kind=str(item.get("kind", "")),
                           name=str(item.get("name", "")), namespace=item.get("namespace") or None)
        target = index.get(_identity_key(ident.api_version, ident.kind, ident.namespace, ident.name))
        location = _location(target, _field_path(item)) if target is not None else None
        related.append(RelatedLocation(resource=ident, location=location, message=str(item.get("message", ""))))
    return tuple(related)


def evaluate(
    resources: list[Resource],
    templates: TemplateSet,
    backend: Backend,
    *,
    pss_level: str = "restricted",
    timeout: float = 10.0,
    workers: int | None = None,
    on_progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    inventory_from: list[Resource] | None = None,
) -> Evaluation:
    """Evaluate every constraint on every resource it matches.

    ``inventory_from``: the objects `data.inventory` and namespace lookups are built from, when that is more than
    what is evaluated (a live audit reads Pods for the inventory but judges their owners).
    """
    out = Evaluation()
    real = inventory_from if inventory_from is not None else [r for r in resources if r.parent is None]
    namespaces = namespaces_by_name(real)
    runnable: list[Template] = []
    for kind, template in sorted(templates.templates.items()):
        if template.rego is None:
            out.not_evaluated.append(Skipped(path=template.source, reason=f"template {kind} has only CEL "
                                             "(K8sNativeValidation) code; kguard evaluates Rego"))
        else:
            runnable.append(template)
    compile_errors = backend.load(runnable, inventory(real))
    for kind, message in sorted(compile_errors.items()):
        out.errors.append(PolicyError(policy=kind, message=message))

    overridden = overridden_checks(templates)
    by_type: dict[tuple[str, str], list[int]] = {}  # (group, kind) -> resources: match.kinds filters cheaply
    ns_objs: list[dict[str, Any] | None] = []
    levels: list[str] = []
    for i, res in enumerate(resources):
        by_type.setdefault((res.api_version.rpartition("/")[0], res.kind), []).append(i)
        ns_objs.append(namespaces.get(res.namespace or ""))
        levels.append(namespace_pss_level(ns_objs[-1], pss_level))
    reviews: dict[int, str] = {}
    unit_of: dict[tuple[str, int], int] = {}  # (parameters, resource) -> unit: same input, one evaluation
    units: list[tuple[list[str], str]] = []
    targets: list[tuple[Resource, dict[str, list[Constraint]]]] = []
    for constraint in sorted(templates.constraints, key=lambda c: (c.kind, c.name)):
        template = templates.templates.get(constraint.kind)
        if template is None or template.rego is None or constraint.kind in compile_errors:
            continue
        if not constraint.enforcement_action:
            out.not_evaluated.append(Skipped(path=constraint.source, reason=f"constraint {constraint.label} has no "
                                             "enforcement action for offline scans (scoped)"))
            continue
        params = json.dumps(constraint.parameters, sort_keys=True)
        kinds = constraint.match.get("kinds") or []
        candidates = sorted(i for (group, kind), indexes in by_type.items() if kinds_match(kinds, group, kind)
                            for i in indexes)
        for i in candidates:
            res, ns_obj = resources[i], ns_objs[i]
            if _pss_skip(template.rule, levels[i], overridden):
                continue
            verdict = matches(constraint.match, res.obj, namespaces)
            if isinstance(verdict, Undecided):
                first = res.positions.get(())
                out.not_evaluated.append(Skipped(path=res.path, line=first.line if first else None,
                                                 reason=f"{constraint.label} on {res.identity.display()}: "
                                                        f"{verdict.reason}"))
                continue
            if not verdict:
                continue
            if i not in reviews:
                reviews[i] = json.dumps(review(res.obj, ns_obj))
            unit = unit_of.get((params, i))
            if unit is None:
                unit = unit_of[(params, i)] = len(units)
                units.append(([], f'{{"parameters":{params},"review":{reviews[i]}}}'))
                targets.append((res, {}))
            by_kind = targets[unit][1]
            if constraint.kind not in by_kind:
                units[unit][0].append(constraint.kind)
            by_kind.setdefault(constraint.kind, []).append(constraint)

    if on_total:
        on_total(sum(len(kinds) for kinds, _ in units))
    run = runner.run(backend, [(tuple(kinds), text) for kinds, text in units], timeout=timeout, workers=workers,
                     on_progress=on_progress)
    index = {_identity_key(r.api_version, r.kind, r.namespace, r.name): r for r in real}
    failures: dict[str, list[str]] = {}
    seen: set[str] = set()
    for unit, outcomes in sorted(run.outcomes.items()):
        res, by_kind = targets[unit]
        for kind, outcome in sorted(outcomes.items()):
            if isinstance(outcome, EvalFailure):
                failures.setdefault(kind, []).append(f"{res.identity.display()}: {outcome.message}")
                continue
            for constraint in by_kind[kind]:
                for violation in outcome:
                    finding = _finding(templates.templates[kind], constraint, res, violation, index)
                    if finding.fingerprint not in seen:  # an implied Pod repeats what its parent already said
                        seen.add(finding.fingerprint)
                        out.findings.append(finding)
    for kind, message in sorted(run.errors.items()):
        out.errors.append(PolicyError(policy=kind, message=message))
    for kind, messages in sorted(failures.items()):
        more = f" (and {len(messages) - 1} more)" if len(messages) > 1 else ""
        out.errors.append(PolicyError(policy=kind, message=f"evaluation failed on {messages[0]}{more}"))
    out.findings.sort(key=Finding.sort_key)
    return out


def _finding(template: Template, constraint: Constraint, res: Resource, violation: dict[str, Any],
             index: dict[tuple[str, str, str, str], Resource]) -> Finding:
    rule = template.rule
    assert rule is not None
    details = violation["details"]
    path = _field_path(details)
    location = _location(res, path)
    message = violation["msg"]
    if res.parent is not None:  # report on the parent, as Gatekeeper does for expanded resources
        message = f"[Implied by {res.implied_by}] {message}"
        path = (*res.parent_path, *path) if path else ()
        res = res.parent
    ident = res.identity
    return Finding(
        rule_id=rule.id,
        severity=severity_for(rule.severity, constraint.enforcement_action),
        category=rule.category,
        tags=rule.tags,
        message=message,
        resource=ident,
        location=location,
        field_path=path,
        remediation=rule.remediation,
        constraint=constraint.label,
        enforcement_action=constraint.enforcement_action,
        related=_related(details, index),
        # a second constraint of the same template is a distinct finding
        fingerprint=fingerprint(rule.id if constraint.name == rule.id else f"{rule.id}/{constraint.name}",
                                ident, path, violation["msg"]),
    )
