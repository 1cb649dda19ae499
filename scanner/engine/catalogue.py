"""The policy catalogue: `policies/<category>/<policy>/{policy.rego,metadata.yaml}` and `policies/lib/*.rego`.

A `Policy` is the source of truth for one rule; it converts to a Gatekeeper ConstraintTemplate and Constraint
(`to_template`, `to_constraint`) so that the scanner and the cluster run the same Rego.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from scanner.errors import UsageError
from scanner.model import Severity

CATEGORIES = ("pod-security", "rbac", "segmentation")
SECURITY_SEVERITY = {  # SARIF properties.security-severity (GitHub buckets: >9 critical, 7-8.9 high, ...)
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "1.0",
}
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: start-up matters
_LIB_IMPORT = re.compile(r"^\s*import\s+data\.lib\.([A-Za-z0-9_]+)", re.MULTILINE)
_PACKAGE = re.compile(r"^\s*package\s+([A-Za-z0-9_.]+)", re.MULTILINE)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """What a report says about a rule (one per policy or per extra template)."""

    id: str
    kind: str
    title: str
    description: str
    severity: Severity
    category: str
    tags: tuple[str, ...]
    remediation: str
    help_url: str
    pss_level: str | None = None
    pss_check: tuple[str, ...] = ()
    pss_overrides: tuple[str, ...] = ()  # baseline check ids this restricted check replaces (upstream semantics)
    source: str = ""  # where the rule is defined (repo-relative path)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "category": self.category,
            "severity": self.severity.label,
            "tags": list(self.tags),
            "description": self.description,
            "remediation": self.remediation,
            "help_url": self.help_url,
        }
        if self.pss_level:
            data["pss_level"] = self.pss_level
            data["pss_check"] = list(self.pss_check)
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    rule: Rule
    rego: str
    libs: tuple[str, ...]
    parameters_schema: dict[str, Any] | None
    constraint: dict[str, Any]
    sync: tuple[dict[str, str], ...]
    directory: Path
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_template(self) -> dict[str, Any]:
        """The Gatekeeper ConstraintTemplate (Rego v1 through `code`)."""
        kind = self.rule.kind
        annotations = {
            "metadata.gatekeeper.sh/title": self.rule.title,
            "metadata.gatekeeper.sh/version": "1.0.0",
            "description": self.rule.description,
            "kguard.io/rule-id": self.rule.id,
            "kguard.io/severity": self.rule.severity.label,
        }
        if self.sync:
            annotations["metadata.gatekeeper.sh/requires-sync-data"] = _sync_annotation(self.sync)
        crd_spec: dict[str, Any] = {"names": {"kind": kind}}
        if self.parameters_schema:
            crd_spec["validation"] = {"openAPIV3Schema": self.parameters_schema}
        source: dict[str, Any] = {"version": "v1", "rego": self.rego}
        if self.libs:
            source["libs"] = list(self.libs)
        return {
            "apiVersion": "templates.gatekeeper.sh/v1",
            "kind": "ConstraintTemplate",
            "metadata": {"name": kind.lower(), "annotations": annotations},
            "spec": {
                "crd": {"spec": crd_spec},
                "targets": [{"target": "admission.k8s.gatekeeper.sh", "code": [{"engine": "Rego", "source": source}]}],
            },
        }

    def to_constraint(self) -> dict[str, Any]:
        """The default Constraint for this policy."""
        spec: dict[str, Any] = {}
        action = self.constraint.get("enforcementAction")
        if action:
            spec["enforcementAction"] = action
        if self.constraint.get("match"):
            spec["match"] = self.constraint["match"]
        if self.constraint.get("parameters"):
            spec["parameters"] = self.constraint["parameters"]
        return {
            "apiVersion": "constraints.gatekeeper.sh/v1beta1",
            "kind": self.rule.kind,
            "metadata": {"name": self.rule.id},
            "spec": spec,
        }


def _sync_annotation(sync: tuple[dict[str, str], ...]) -> str:
    import json

    return json.dumps([[{"groups": [s.get("group", "")], "versions": [s["version"]], "kinds": [s["kind"]]}
                        for s in sync]])


def package_of(rego: str) -> str:
    match = _PACKAGE.search(rego)
    if not match:
        raise ValueError("Rego module has no package declaration")
    return match.group(1)


def load_libs(policy_dir: Path) -> dict[str, str]:
    """`policies/lib/<name>.rego` by lib name (`data.lib.<name>`)."""
    lib_dir = policy_dir / "lib"
    if not lib_dir.is_dir():
        return {}
    return {p.stem: p.read_text() for p in sorted(lib_dir.glob("*.rego")) if not p.name.endswith("_test.rego")}


def _needed_libs(rego: str, libs: dict[str, str]) -> list[str]:
    """Libs imported by ``rego``, transitively, in a stable order."""
    seen: list[str] = []
    todo = _LIB_IMPORT.findall(rego)
    while todo:
        name = todo.pop(0)
        if name in seen or name not in libs:
            continue
        seen.append(name)
        todo.extend(_LIB_IMPORT.findall(libs[name]))
    return sorted(seen)


def load_policy(directory: Path, libs: dict[str, str], root: Path) -> Policy:
    meta_path = directory / "metadata.yaml"
    try:
        meta = yaml.load(meta_path.read_text(), Loader=_YamlLoader)
        rego = (directory / "policy.rego").read_text()
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"{meta_path}: cannot read policy: {exc}") from None
    if not isinstance(meta, dict):
        raise UsageError(f"{meta_path}: metadata must be a mapping")
    try:
        category = meta["category"]
        if category not in CATEGORIES:
            raise ValueError(f"category must be one of {', '.join(CATEGORIES)}")
        tags = [category, *[t for t in meta.get("tags", []) if t != category]]
        pss = meta.get("pss") or {}
        check = pss.get("check", ())
        rule = Rule(
            id=meta["id"],
            kind=meta["kind"],
            title=meta["title"],
            description=" ".join(str(meta["description"]).split()),
            severity=Severity.parse(meta["severity"]),
            category=category,
            tags=tuple(tags[:10]),
            remediation=" ".join(str(meta["remediation"]).split()),
            help_url=meta.get("help_url", ""),
            pss_level=pss.get("level"),
            pss_check=(check,) if isinstance(check, str) else tuple(check),
            pss_overrides=tuple(pss.get("overrides") or ()),
            source=_relative(directory / "metadata.yaml", root),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise UsageError(f"{meta_path}: invalid policy metadata: {exc}") from None
    return Policy(
        rule=rule,
        rego=rego,
        libs=tuple(libs[name] for name in _needed_libs(rego, libs)),
        parameters_schema=meta.get("parameters"),
        constraint=meta.get("constraint") or {},
        sync=tuple(meta.get("sync") or ()),
        directory=directory,
        metadata=meta,
    )


def load_catalogue(policy_dir: Path) -> list[Policy]:
    """Every policy below ``policy_dir``, sorted by rule id; duplicate ids or kinds are an error."""
    if not policy_dir.is_dir():
        raise UsageError(f"{policy_dir}: policy directory not found")
    libs = load_libs(policy_dir)
    policies = [load_policy(m.parent, libs, policy_dir.parent) for m in sorted(policy_dir.glob("*/*/metadata.yaml"))]
    seen: dict[str, Path] = {}
    for policy in policies:
        for key in (policy.rule.id, policy.rule.kind):
            if key in seen:
                raise UsageError(f"{policy.directory}: duplicate rule id or kind {key!r} (also in {seen[key]})")
            seen[key] = policy.directory
    return sorted(policies, key=lambda p: p.rule.id)


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def default_policy_dir(cwd: Path | None = None) -> Path:
    """The repository's `policies/` when run inside it (found upwards from cwd), else the bundled copy."""
    here = (cwd or Path.cwd()).resolve()
    for parent in (here, *here.parents):
        candidate = parent / "policies"
        if (candidate / "lib").is_dir() and any(candidate.glob("*/*/metadata.yaml")):
            return candidate
        if (parent / ".git").exists():
            break
    bundled = Path(__file__).resolve().parent.parent / "_bundled" / "policies"
    if bundled.is_dir():
        return bundled
    # editable install: the repository next to the package
    return Path(__file__).resolve().parents[2] / "policies"
