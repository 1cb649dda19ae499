"""Gatekeeper ConstraintTemplates and Constraints as plain data.

Both kguard's own catalogue (through `Policy.to_template`/`to_constraints`) and user YAML given with
`--templates DIR` go through the same parser, so the scanner reads exactly what the cluster would.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from scanner.engine.catalogue import Policy, Rule, package_of
from scanner.errors import UsageError
from scanner.model import Resource, Severity

if TYPE_CHECKING:
    from scanner.config import PodSecurityConfig

TARGET = "admission.k8s.gatekeeper.sh"
SYNC_ANNOTATION = "metadata.gatekeeper.sh/requires-sync-data"
ENFORCEMENT_ACTIONS = ("deny", "warn", "dryrun", "scoped")
SCAN_ENFORCEMENT_POINTS = ("gator.gatekeeper.sh", "audit.gatekeeper.sh", "*")


@dataclass(frozen=True, slots=True, kw_only=True)
class Template:
    """A ConstraintTemplate reduced to what evaluation needs."""

    kind: str
    rego: str | None  # None: CEL-only template, reported as not evaluated
    libs: tuple[str, ...] = ()
    rego_version: str = "v0"  # "v1" only when source.version is exactly "v1"
    parameters_schema: dict[str, Any] | None = None
    rule: Rule | None = None
    source: str = ""
    # what `data.inventory` must hold for the template to judge fairly: requirements that must all be met, each a
    # tuple of equivalent (group, kind)s (Gatekeeper's `metadata.gatekeeper.sh/requires-sync-data`); None: undeclared
    requires_sync: tuple[tuple[tuple[str, str], ...], ...] | None = None
    # generated from the library kguard ships (known to compile): a backend may compile it without isolation
    trusted: bool = False

    @property
    def package(self) -> str:
        assert self.rego is not None
        return package_of(self.rego)

    @property
    def uses_inventory(self) -> bool:
        texts = [self.rego or "", *self.libs]
        return any("data.inventory" in t for t in texts)


@dataclass(frozen=True, slots=True, kw_only=True)
class Constraint:
    kind: str
    name: str
    match: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    enforcement_action: str = "deny"
    source: str = ""

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}"


def parse_template(obj: dict[str, Any], source: str = "", rule: Rule | None = None) -> Template:
    """A ConstraintTemplate object (v1, v1beta1, v1alpha1) to `Template`; raises ValueError when unusable."""
    spec = obj.get("spec") or {}
    kind = (((spec.get("crd") or {}).get("spec") or {}).get("names") or {}).get("kind")
    if not kind:
        raise ValueError("spec.crd.spec.names.kind is missing")
    name = (obj.get("metadata") or {}).get("name", "")
    if name != str(kind).lower():
        raise ValueError(f"metadata.name {name!r} must be the lower-cased kind {str(kind).lower()!r}")
    targets = spec.get("targets") or []
    if len(targets) != 1 or targets[0].get("target") != TARGET:
        raise ValueError(f"exactly one target {TARGET!r} is required")
    target = targets[0]
    schema = (((spec.get("crd") or {}).get("spec") or {}).get("validation") or {}).get("openAPIV3Schema")
    rego, libs, version = target.get("rego"), tuple(target.get("libs") or ()), "v0"
    if not rego:  # the legacy field wins when non-empty; otherwise the Rego entry of `code`
        for code in target.get("code") or []:
            if code.get("engine") == "Rego":
                src = code.get("source") or {}
                rego, libs = src.get("rego"), tuple(src.get("libs") or ())
                version = "v1" if src.get("version") == "v1" else "v0"
                break
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return Template(kind=str(kind), rego=rego or None, libs=libs, rego_version=version,
                    parameters_schema=schema, rule=rule, source=source,
                    requires_sync=parse_sync_requirements(annotations.get(SYNC_ANNOTATION)))


def parse_sync_requirements(text: Any) -> tuple[tuple[tuple[str, str], ...], ...] | None:
    """`metadata.gatekeeper.sh/requires-sync-data` to requirements: a JSON list of requirements that must all be
    met, each a list of equivalent clauses ``{"groups", "versions", "kinds"}`` (any one of them meets it).

    None when absent or unreadable (treated as undeclared: the template may read anything; Gatekeeper too ignores
    an annotation it cannot parse).
    """
    import json

    try:
        decoded = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    if not isinstance(decoded, list) or not all(isinstance(r, list) for r in decoded):
        return None
    requirements = []
    for requirement in decoded:
        alternatives = set()
        for clause in requirement:
            if not isinstance(clause, dict):
                return None
            groups, kinds = clause.get("groups") or [""], clause.get("kinds") or []
            if not isinstance(groups, list) or not isinstance(kinds, list):
                return None
            alternatives.update((str(group), str(kind)) for group in groups for kind in kinds)
        if alternatives:
            requirements.append(tuple(sorted(alternatives)))
    return tuple(requirements)


def parse_constraint(obj: dict[str, Any], template: Template | None = None, source: str = "") -> Constraint:
    """A Constraint object to `Constraint`, applying the template's parameter schema defaults."""
    spec = obj.get("spec") or {}
    action = spec.get("enforcementAction") or "deny"
    if action not in ENFORCEMENT_ACTIONS:
        raise ValueError(f"unknown enforcementAction {action!r}")
    if action == "scoped":
        action = _scoped_action(spec)
    params = copy.deepcopy(spec.get("parameters") or {})
    if template is not None and template.parameters_schema:
        params = apply_defaults(template.parameters_schema, params)
    return Constraint(kind=obj["kind"], name=(obj.get("metadata") or {}).get("name", ""),
                      match=spec.get("match") or {}, parameters=params, enforcement_action=action, source=source)


def _scoped_action(spec: dict[str, Any]) -> str:
    """The action a scoped constraint has for offline scans (gator/audit points); "" = not evaluated."""
    actions = []
    for entry in spec.get("scopedEnforcementActions") or []:
        points = {p.get("name") for p in entry.get("enforcementPoints") or []}
        if points & set(SCAN_ENFORCEMENT_POINTS):
            actions.append(entry.get("action", "deny"))
    for preferred in ("deny", "warn", "dryrun"):
        if preferred in actions:
            return preferred
    return ""


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """Fill OpenAPI `default`s into ``value`` (objects recursively, array items), as the API server does."""
    if isinstance(value, dict) and schema.get("type", "object") == "object":
        props = schema.get("properties") or {}
        for key, sub in props.items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                value[key] = apply_defaults(sub, value[key])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        value = [apply_defaults(schema["items"], v) for v in value]
    return value


def from_policy(policy: Policy, pod_security: PodSecurityConfig | None = None) -> tuple[Template, list[Constraint]]:
    """The template and constraints the catalogue generates for ``policy`` (exactly what `gatekeeper/` holds)."""
    template = parse_template(policy.to_template(), source=policy.rule.source, rule=policy.rule)
    # the catalogue's `sync:` is the complete list of what the policy reads: every entry is needed, none = nothing
    template = replace(template, requires_sync=tuple(((str(s.get("group", "")), str(s["kind"])),)
                                                    for s in policy.sync if s.get("kind")), trusted=policy.bundled)
    return template, [parse_constraint(c, template, source=policy.rule.source)
                      for c in policy.to_constraints(pod_security)]


def rule_for_template(template: Template, obj: dict[str, Any]) -> Rule:
    """A report rule for a user template: metadata from its annotations (kguard.io/* or Gatekeeper's)."""
    ann = (obj.get("metadata") or {}).get("annotations") or {}
    severity = ann.get("kguard.io/severity", "high")
    category = ann.get("kguard.io/category", "custom")
    tags = [t for t in str(ann.get("kguard.io/tags", "")).split(",") if t]
    floor = ann.get("kguard.io/baseline-severity")
    pss_level = ann.get("kguard.io/pss-level")
    description = " ".join(str(ann.get("description") or f"Gatekeeper template {template.kind}").split())
    return Rule(
        id=ann.get("kguard.io/rule-id") or template.kind.lower(),
        kind=template.kind,
        title=ann.get("metadata.gatekeeper.sh/title") or template.kind,
        description=description[:1024],
        severity=Severity.parse(severity),
        category=category,
        tags=tuple(dict.fromkeys(tags or [category, "gatekeeper"])),
        remediation=ann.get("kguard.io/remediation", "See the template's documentation."),
        help_url=ann.get("kguard.io/help-url", ""),
        pss_level=pss_level if pss_level in ("baseline", "restricted") else None,
        pss_check=tuple(c for c in str(ann.get("kguard.io/pss-check", "")).split(",") if c) if pss_level else (),
        baseline_severity=Severity.parse(floor) if floor else None,
        source=template.source,
    )


@dataclass(slots=True)
class TemplateSet:
    templates: dict[str, Template] = field(default_factory=dict)
    constraints: list[Constraint] = field(default_factory=list)

    def add(self, template: Template, constraints: list[Constraint]) -> None:
        if template.kind in self.templates:
            raise UsageError(f"{template.source}: template kind {template.kind} is defined twice "
                             f"(also in {self.templates[template.kind].source})")
        self.templates[template.kind] = template
        self.constraints.extend(constraints)


def add_template_objects(resources: list[Resource], into: TemplateSet) -> None:
    """ConstraintTemplates + Constraints among loaded objects (`--templates`); a constraint without its template is
    an error."""
    pending: list[tuple[dict[str, Any], str]] = []
    new: dict[str, Template] = {}
    for res in resources:
        where = f"{res.path}:{res.positions[()].line}"
        if res.kind == "ConstraintTemplate":
            try:
                template = parse_template(res.obj, source=res.path)
                template = replace(template, rule=rule_for_template(template, res.obj))
            except ValueError as exc:  # also a kguard.io/ severity annotation that is not a severity
                raise UsageError(f"{where}: invalid ConstraintTemplate: {exc}") from None
            new[template.kind] = template
        elif res.api_version.startswith("constraints.gatekeeper.sh/"):
            pending.append((res.obj, where))
    by_kind: dict[str, list[Constraint]] = {kind: [] for kind in new}
    for obj, where in pending:
        kind = obj.get("kind")
        if kind not in new:
            raise UsageError(f"{where}: constraint {kind}/{(obj.get('metadata') or {}).get('name')} has no "
                             "ConstraintTemplate in the given --templates")
        try:
            by_kind[kind].append(parse_constraint(obj, new[kind], source=where.rsplit(":", 1)[0]))
        except (ValueError, KeyError) as exc:
            raise UsageError(f"{where}: invalid constraint: {exc}") from None
    for kind, template in sorted(new.items()):
        into.add(template, by_kind[kind])
