"""The rules of Roles and ClusterRoles: own rules, aggregated ClusterRoles and built-in ClusterRoles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scanner.analysis.rbac.builtin_roles import BUILTIN_CLUSTER_ROLES
from scanner.analysis.rbac.capabilities import Perms
from scanner.analysis.rbac.fields import list_or_empty, mapping_at
from scanner.engine.match import selector_matches
from scanner.model import Resource


@dataclass(frozen=True, slots=True)
class RoleRule:
    """One rule of a role; ``role`` is None for a built-in ClusterRole that is not in the scanned set."""

    role: Resource | None
    role_label: str
    index: int
    rule: dict[str, Any]
    perms: Perms


def qualified(res: Resource) -> str:
    """``namespace/name`` of a namespaced object (a ClusterRoleBinding's stray namespace ignored), else ``name``."""
    return f"{res.namespace}/{res.name}" if res.namespace and res.kind != "ClusterRoleBinding" else res.name


def role_rules(res: Resource) -> list[RoleRule]:
    """The well-formed rules a Role or ClusterRole lists itself."""
    label = f"{res.kind} {qualified(res)}"
    return [RoleRule(res, label, i, rule, Perms.of(rule))
            for i, rule in enumerate(list_or_empty(res.obj.get("rules"))) if isinstance(rule, dict)]


def _valid_selector(selector: Any) -> bool:
    """A LabelSelector shaped as selector_matches expects (malformed ones match nothing)."""
    return (isinstance(selector, dict) and isinstance(selector.get("matchLabels") or {}, dict)
            and all(isinstance(e, dict) for e in list_or_empty(selector.get("matchExpressions") or [])))


def resolve_cluster_roles(cluster_roles: dict[str, Resource]) -> dict[str, list[RoleRule]]:
    """Own rules plus, for aggregated ClusterRoles, the rules of every ClusterRole their selectors match.

    Built-in ClusterRoles absent from ``cluster_roles`` are added with their known rules.
    """
    own = {name: role_rules(res) for name, res in cluster_roles.items()}

    def labels(name: str) -> dict[str, Any]:
        found = cluster_roles[name].metadata.get("labels")
        return found if isinstance(found, dict) else {}

    def resolve(name: str, seen: frozenset[str]) -> list[RoleRule]:
        selectors = list_or_empty(mapping_at(cluster_roles[name].obj, "aggregationRule").get("clusterRoleSelectors"))
        rules = list(own[name])
        for other in sorted(cluster_roles):
            if other in seen or other == name:
                continue
            # an empty selector matches every ClusterRole, as in the aggregation controller
            if any(_valid_selector(s) and selector_matches(s, labels(other)) for s in selectors):
                rules.extend(resolve(other, seen | {other}))
        return list({(id(r.role), r.index): r for r in rules}.values())  # a rule reached twice counts once

    resolved = {name: resolve(name, frozenset({name})) for name in sorted(cluster_roles)}
    for name, rules in BUILTIN_CLUSTER_ROLES.items():
        if name not in resolved:
            label = f"ClusterRole {name} (built-in)"
            resolved[name] = [RoleRule(None, label, i, r, Perms.of(r)) for i, r in enumerate(rules)]
    return resolved
