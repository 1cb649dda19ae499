"""Constraints x resources -> Findings, with Gatekeeper matching.

Pod Security levels are decided by the constraints' own match (namespaceSelector on the enforce label, generated
by the catalogue), exactly as Gatekeeper decides them with the generated `gatekeeper/` objects.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from scanner.engine import runner
from scanner.engine.backend import Backend, EvalFailure, Outcome
from scanner.engine.catalogue import Rule
from scanner.engine.inputs import Inputs
from scanner.engine.match import (
    AssumedUnlabelled,
    Excluded,
    Placement,
    Undecided,
    Verdict,
    kinds_match,
    matches,
    placement,
    reads_only_placement,
)
from scanner.engine.review import inventory, inventory_kinds, namespaces_by_name, review, synced
from scanner.engine.templates import Constraint, Template, TemplateSet
from scanner.load import forked
from scanner.model import (
    FieldPath,
    Finding,
    IdentityKey,
    PolicyError,
    RelatedLocation,
    Resource,
    ResourceId,
    Severity,
    Skipped,
    fingerprint,
)

# Up to this many objects a scan spends memory on speed: the reviews are kept as text, above it compressed
# (`Inputs`; 10,000 objects: ~9 MB of text, shared by the workers), and the findings are made while the workers
# evaluate (`runner.run`'s ``on_outcomes``). Above it they are made afterwards: making them reads the objects,
# and the kguard process would then copy every page of them it shares with the workers (reference counts).
SMALL_SCAN_MAX_OBJECTS = 10000
# From this many reviews on, when they are compressed, a forked child encodes half of them (`_add_reviews`): each
# costs ~30 us to serialise and compress (50,000 objects: ~1 s), on the kguard process's core while the other one
# idles (the analyses run in-process in scans that large).
FORKED_REVIEWS_MIN = 10000
REVIEWS_PER_ITEM = 1000  # reviews the child hands back at a time


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


def harm_severity(rule: Rule, details: dict[str, Any]) -> Severity:
    """The rule's severity, raised to the replaced baseline rule's where a restricted check reports a violation
    of a baseline control (upstream attributes it to the restricted check; the harm is the baseline one)."""
    if rule.baseline_severity is not None and details.get("violates_baseline") is True:
        return max(rule.severity, rule.baseline_severity)
    return rule.severity


def occurrences(resources: list[Resource]) -> dict[int, int]:
    """id(resource) -> its ordinal among the objects of the same identity (`Resource.identity`) in its source.

    Two copies of one object (same apiVersion group/kind/namespace/name) in different files, or twice in one file,
    are different occurrences: their findings and suppressions never merge. The ordinal, unlike the document
    index, does not change when unrelated documents are added above.
    """
    counts: dict[tuple[str, str, str, str, str | None], int] = {}  # (source, the identity's fields) -> seen
    out: dict[int, int] = {}
    for res in resources:
        if res.parent is not None:
            continue
        key = (res.path, res.api_version, res.kind, res.name, res.namespace)
        out[id(res)] = counts.get(key, 0)
        counts[key] = out[id(res)] + 1
    return out


def _field_path(details: dict[str, Any]) -> FieldPath:
    raw = details.get("field_path")
    if not isinstance(raw, list) or not all(isinstance(p, (str, int)) and not isinstance(p, bool) for p in raw):
        return ()
    return tuple(raw)



class _Index:
    """The objects by (group, kind, namespace, name), built on the first lookup (few violations name others)."""

    def __init__(self, resources: list[Resource]) -> None:
        self._resources = resources
        self._by_key: dict[IdentityKey, Resource] | None = None

    def get(self, key: IdentityKey) -> Resource | None:
        if self._by_key is None:
            self._by_key = {r.key: r for r in self._resources}
        return self._by_key.get(key)


def _related(details: dict[str, Any], index: _Index) -> tuple[RelatedLocation, ...]:
    related = []
    for item in details.get("related") or []:
        if not isinstance(item, dict):
            continue
        ident = ResourceId(api_version=str(item.get("apiVersion", "")), kind=str(item.get("kind", "")),
                           name=str(item.get("name", "")), namespace=item.get("namespace") or None)
        target = index.get(ident.key)
        location = target.location(_field_path(item)) if target is not None else None
        related.append(RelatedLocation(resource=ident, location=location, message=str(item.get("message", ""))))
    return tuple(related)


@dataclass(slots=True)
class _Unit:
    """One evaluation input (parameters + review of one resource) and the constraints judged on it, by kind."""

    resource: Resource
    parameters: str  # their JSON
    review: int  # the review's number in `_Plan.inputs`
    constraints: dict[str, tuple[Constraint, ...]]  # kind -> constraints, kinds in order (shared: never changed)


@dataclass(slots=True)
class _Plan:
    """What to evaluate, and what matching already decided."""

    units: list[_Unit] = field(default_factory=list)
    inputs: Inputs = field(default_factory=Inputs)  # what the engine reads, unit by unit (`runner.run`)
    # resource -> (its checked namespace, the constraints that namespace is exempt from)
    excluded: dict[int, tuple[str, list[str]]] = field(default_factory=dict)
    missing_namespaces: dict[str, Resource] = field(default_factory=dict)  # judged as unlabelled: said once each


def evaluate(
    resources: list[Resource],
    templates: TemplateSet,
    backend: Backend,
    *,
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
    compile_errors = _compile(_runnable(templates, out), backend, real, timeout, out)
    plan = _plan(resources, templates, namespaces_by_name(real), compile_errors, out)
    if on_total:
        on_total(sum(len(unit.constraints) for unit in plan.units))
    meanwhile = len(resources) <= SMALL_SCAN_MAX_OBJECTS
    collected = _Collected(plan, templates, real, resources)
    run = runner.run(backend, plan.inputs, timeout=timeout, workers=workers, on_progress=on_progress,
                     on_outcomes=collected.add if meanwhile else None)
    plan.inputs = Inputs()  # the reviews' text, one buffer of its own, goes back to the system before the findings
    for unit_index, outcomes in run.in_order():  # (none when they were collected meanwhile)
        collected.add(unit_index, outcomes)
    failures = collected.finish(out)
    _say_not_evaluated(plan, resources, out)
    _say_errors(run, failures, out)
    out.findings.sort(key=Finding.sort_key)
    return out


def _runnable(templates: TemplateSet, out: Evaluation) -> list[Template]:
    """Templates with Rego code, in kind order; CEL-only templates are listed as not evaluated."""
    runnable: list[Template] = []
    for kind, template in sorted(templates.templates.items()):
        if template.rego is None:
            out.not_evaluated.append(Skipped(path=template.source, reason=f"template {kind} has only CEL "
                                             "(K8sNativeValidation) code; kguard evaluates Rego"))
        else:
            runnable.append(template)
    return runnable


def _compile(runnable: list[Template], backend: Backend, real: list[Resource], timeout: float,
             out: Evaluation) -> dict[str, str]:
    """Load the templates and `data.inventory` (the kinds they read) into the backend; kind -> compile error (also
    reported)."""
    compile_errors = runner.load(backend, runnable, inventory(synced(real, inventory_kinds(runnable))),
                                 timeout=timeout)
    for kind, message in sorted(compile_errors.items()):
        out.errors.append(PolicyError(policy=kind, message=message))
    return compile_errors


def _plan(resources: list[Resource], templates: TemplateSet, namespaces: dict[str, dict[str, Any]],
          compile_errors: dict[str, str], out: Evaluation) -> _Plan:
    """Match every constraint against the resources; one unit per (parameters, resource), shared by constraints."""
    plan = _Plan(inputs=Inputs(compressed=len(resources) > SMALL_SCAN_MAX_OBJECTS))
    by_type: dict[tuple[str, str], list[int]] = {}  # (group, kind) -> resources: match.kinds filters cheaply
    for i, res in enumerate(resources):
        by_type.setdefault((res.api_version.rpartition("/")[0], res.kind), []).append(i)
    placements = [placement(res.obj) for res in resources]
    decided: dict[str, dict[Placement, Verdict]] = {}  # a match (constraints share them) -> verdict by placement
    reviews: dict[int, int] = {}  # resource -> its review's number in plan.inputs
    reviewed: list[Resource] = []  # by review number
    unit_of: dict[tuple[str, int], _Unit] = {}  # (parameters, resource) -> unit: same input, one evaluation
    judged = _Judged()
    for number, constraint in enumerate(sorted(templates.constraints, key=lambda c: (c.kind, c.name))):
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
        known = decided.setdefault(repr(constraint.match), {})
        for i, verdict in _verdicts(constraint.match, candidates, resources, placements, namespaces, known):
            res = resources[i]
            if verdict is not True and not _matched(constraint, verdict, res, i, plan, out):
                continue
            unit = unit_of.get((params, i))
            if unit is None:
                review_number = reviews.get(i)
                if review_number is None:
                    review_number = reviews[i] = len(reviewed)
                    reviewed.append(res)
                unit = unit_of[(params, i)] = _Unit(res, params, review_number, judged.EMPTY)
                plan.units.append(unit)
            unit.constraints = judged.adding(unit.constraints, number, constraint)
    _add_reviews(plan.inputs, reviewed, namespaces)
    for unit in plan.units:
        plan.inputs.add(judged.kinds(unit.constraints), unit.parameters, unit.review)
    return plan


def _add_reviews(inputs: Inputs, reviewed: list[Resource], namespaces: dict[str, dict[str, Any]]) -> None:
    """The review of each of ``reviewed`` into ``inputs``, in order. From `FORKED_REVIEWS_MIN` compressed reviews on
    (more than one CPU), a forked child encodes the second half meanwhile (the kguard process encodes it itself when
    the child fails)."""

    def review_json(res: Resource) -> str:
        return json.dumps(review(res.obj, namespaces.get(res.namespace or "")))

    def encoded(share: list[Resource]) -> Iterator[tuple[bytes, list[int]]]:
        for start in range(0, len(share), REVIEWS_PER_ITEM):  # a few hundred KB at a time, never the whole half
            parts = [inputs.encode(review_json(res)) for res in share[start:start + REVIEWS_PER_ITEM]]
            yield b"".join(parts), [len(part) for part in parts]

    def add_here(share: list[Resource]) -> None:
        for res in share:
            inputs.add_review(review_json(res))

    half = len(reviewed) // 2
    outcome = None
    if inputs.compressed and len(reviewed) >= FORKED_REVIEWS_MIN and forked.processes_available() >= 2:
        outcome = forked.map_forked(add_here, encoded, [reviewed[:half], reviewed[half:]])
    if outcome is None:
        add_here(reviewed)
        return
    _, (items,) = outcome
    second: list[tuple[bytes, list[int]]] = []
    if items is not None:
        try:
            second = list(items)
        except Exception:  # a child's result that does not read back: its half is encoded here
            second = []
    if sum(len(sizes) for _, sizes in second) != len(reviewed) - half:
        add_here(reviewed[half:])
        return
    for chunk, sizes in second:
        inputs.add_encoded(chunk, sizes)


class _Judged:
    """The constraints judging a unit, by kind: one shared mapping for all units judged alike (most are: every
    workload of a namespace level by the same Pod Security constraints), never one per unit."""

    EMPTY: dict[str, tuple[Constraint, ...]] = {}

    def __init__(self) -> None:
        # (id(mapping), the constraint's number) -> the mapping with it; mappings stay alive here, so ids stay theirs
        self._added: dict[tuple[int, int], dict[str, tuple[Constraint, ...]]] = {}
        self._kinds: dict[int, tuple[str, ...]] = {}  # id(mapping) -> its kinds

    def adding(self, judging: dict[str, tuple[Constraint, ...]], number: int, constraint: Constraint
               ) -> dict[str, tuple[Constraint, ...]]:
        """``judging`` with ``constraint`` (number ``number`` in the plan) added; the same object every time."""
        key = (id(judging), number)
        extended = self._added.get(key)
        if extended is None:
            extended = self._added[key] = {**judging, constraint.kind: (*judging.get(constraint.kind, ()),
                                                                        constraint)}
        return extended

    def kinds(self, judging: dict[str, tuple[Constraint, ...]]) -> tuple[str, ...]:
        """The kinds of ``judging``, in order (one tuple per mapping)."""
        kinds = self._kinds.get(id(judging))
        if kinds is None:
            kinds = self._kinds[id(judging)] = tuple(judging)
        return kinds


def _verdicts(match: dict[str, Any], candidates: list[int], resources: list[Resource],
              placements: list[Placement | None], namespaces: dict[str, dict[str, Any]],
              known: dict[Placement, Verdict]) -> Iterator[tuple[int, Verdict]]:
    """(index, `matches` verdict) for each candidate, in order. A match that reads only the objects' placement is
    decided once per placement: ``known`` keeps those verdicts (the same object for every object placed alike)."""
    cached = reads_only_placement(match)
    for i in candidates:
        key = placements[i] if cached else None
        if key is not None and key in known:
            yield i, known[key]
            continue
        verdict = matches(match, resources[i].obj, namespaces, missing_namespace_unlabelled=True)
        if key is not None:
            known[key] = verdict
        yield i, verdict


def _matched(constraint: Constraint, verdict: Verdict, res: Resource, i: int, plan: _Plan, out: Evaluation) -> bool:
    """Whether ``verdict`` lets ``constraint`` judge ``res``; undecided matches, exemptions and unknown namespaces
    are noted."""
    if isinstance(verdict, Undecided):
        first = res.positions.get(())
        out.not_evaluated.append(Skipped(path=res.path, line=first.line if first else None,
                                         reason=f"{constraint.label} on {res.identity.display()}: "
                                                f"{verdict.reason}"))
        return False
    if isinstance(verdict, AssumedUnlabelled):
        plan.missing_namespaces.setdefault(verdict.namespace, res)
    if not verdict:
        if isinstance(verdict, Excluded):
            plan.excluded.setdefault(i, (verdict.namespace, []))[1].append(constraint.label)
        return False
    return True


class _Collected:
    """Violations -> findings, unit by unit (`add`), in any order: `evaluate` sorts the findings by
    `Finding.sort_key` after `finish`, and findings that tie there come from one violation set, which arrives
    whole. `finish` keeps an implied Pod's findings only where its parent did not say the same."""

    def __init__(self, plan: _Plan, templates: TemplateSet, real: list[Resource], resources: list[Resource]
                 ) -> None:
        self._plan, self._templates, self._real, self._resources = plan, templates, real, resources
        self._index: _Index | None = None  # made on the first violation (during evaluation, when it overlaps)
        self._where: dict[int, int] = {}
        self._seen: dict[Any, Any] = {}  # what many findings repeat (labels, occurrences, field paths), kept once
        self._findings: list[Finding] = []  # of the objects themselves
        self._implied: list[Finding] = []  # of implied Pods
        self._failures: list[tuple[int, str, str]] = []  # (unit index, kind, what failed)

    def _once(self, value: Any) -> Any:
        return self._seen.setdefault(value, value)

    def add(self, unit_index: int, outcomes: dict[str, Outcome]) -> None:
        """The outcomes of one unit (some of its kinds, or all)."""
        if self._index is None:
            self._index, self._where = _Index(self._real), occurrences(self._resources)
        unit = self._plan.units[unit_index]
        res = unit.resource
        for kind, outcome in sorted(outcomes.items()):
            if isinstance(outcome, EvalFailure):
                self._failures.append((unit_index, kind, f"{res.identity.display()}: {outcome.message}"))
                continue
            template = self._templates.templates[kind]
            for constraint in unit.constraints[kind]:
                for violation in outcome:
                    finding = _finding(template, constraint, res, violation, self._index, self._where, self._once)
                    (self._findings if res.parent is None else self._implied).append(finding)

    def finish(self, out: Evaluation) -> dict[str, list[str]]:
        """The findings into ``out``; kind -> failures, in the order of their units (the first one is named)."""
        out.findings.extend(self._findings)
        said = {_said_key(f) for f in self._findings}
        # an implied Pod repeating what its parent already said at the same field is the same violation
        out.findings.extend(f for f in self._implied if not (f.field_path and _said_key(f) in said))
        failures: dict[str, list[str]] = {}
        for _, kind, message in sorted(self._failures, key=lambda item: (item[0], item[1])):
            failures.setdefault(kind, []).append(message)
        return failures


def _said_key(finding: Finding) -> tuple[Any, ...]:
    """What makes an implied Pod's finding the same violation as its parent's: constraint, copy and field."""
    return finding.constraint, finding.occurrence, finding.field_path


def _say_not_evaluated(plan: _Plan, resources: list[Resource], out: Evaluation) -> None:
    """Exempt objects and namespaces judged as unlabelled, as not-evaluated entries."""
    for i, (namespace, constraints) in sorted(plan.excluded.items()):
        res = resources[i]
        first = res.positions.get(())
        out.not_evaluated.append(Skipped(
            path=res.path, line=first.line if first else None,
            reason=f"{res.identity.display()}: namespace {namespace!r} is excluded (exempt) from "
                   f"{', '.join(sorted(set(constraints)))}"))
    for namespace, res in sorted(plan.missing_namespaces.items()):
        out.not_evaluated.append(Skipped(
            path=res.path, reason=f"Namespace {namespace!r} is not in the scanned input: constraints with a "
                                  "namespaceSelector judged its objects as if it had no labels (Pod Security: "
                                  "the default level)"))


def _say_errors(run: runner.RunResult, failures: dict[str, list[str]], out: Evaluation) -> None:
    """Templates that failed as a whole, then evaluation failures (the first object named, the rest counted)."""
    for kind, message in sorted(run.errors.items()):
        out.errors.append(PolicyError(policy=kind, message=message))
    for kind, messages in sorted(failures.items()):
        more = f" (and {len(messages) - 1} more)" if len(messages) > 1 else ""
        out.errors.append(PolicyError(policy=kind, message=f"evaluation failed on {messages[0]}{more}"))


def _finding(template: Template, constraint: Constraint, res: Resource, violation: dict[str, Any],
             index: _Index, where: dict[int, int], once: Callable[[Any], Any]) -> Finding:
    """The finding of one violation; ``once`` gives back the first equal value it was given (texts and paths that
    many findings repeat are kept once)."""
    rule = template.rule
    assert rule is not None
    details = violation["details"] if isinstance(violation.get("details"), dict) else {}
    path = _field_path(details)
    location = res.location(path)
    message = violation["msg"]
    if res.parent is not None:  # report on the parent, as Gatekeeper does for expanded resources
        message = f"[Implied by {res.implied_by}] {message}"
        path = (*res.parent_path, *path) if path else ()
        res = res.parent
    path = once(path)
    ident = once(res.identity)
    return Finding(
        rule_id=rule.id,
        severity=severity_for(harm_severity(rule, details), constraint.enforcement_action),
        category=rule.category,
        tags=rule.tags,
        message=message,
        resource=ident,
        location=location,
        field_path=path,
        remediation=rule.remediation,
        constraint=once(constraint.label),
        enforcement_action=constraint.enforcement_action,
        related=_related(details, index),
        # a second constraint of the same template is a distinct finding
        fingerprint=fingerprint(rule.id if constraint.name == rule.id else f"{rule.id}/{constraint.name}",
                                ident, path, message, f"{res.path}#{where.get(id(res), 0)}"),
        occurrence=once(res.occurrence),
    )
