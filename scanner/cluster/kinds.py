"""Which kinds an audit lists: what the constraints match plus what `data.inventory` and drift need."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from scanner.cluster.discovery import ApiResource, Discovery

# (group, kind): always read when served; referential policies and owner resolution need them.
INVENTORY_KINDS: tuple[tuple[str, str], ...] = (
    ("", "Namespace"), ("", "Pod"), ("", "ReplicationController"), ("", "Service"), ("", "ServiceAccount"),
    ("apps", "Deployment"), ("apps", "StatefulSet"), ("apps", "DaemonSet"), ("apps", "ReplicaSet"),
    ("batch", "Job"), ("batch", "CronJob"), ("networking.k8s.io", "NetworkPolicy"),
    ("rbac.authorization.k8s.io", "Role"), ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "RoleBinding"), ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
)
# Read when installed; their absence is not a coverage gap.
OPTIONAL_KINDS: tuple[tuple[str, str], ...] = (
    ("argoproj.io", "Rollout"), ("templates.gatekeeper.sh", "ConstraintTemplate"),
)
CONSTRAINTS_GROUP = "constraints.gatekeeper.sh"
# Secret data is never read: Secrets are listed as PartialObjectMetadata only.
METADATA_ONLY = frozenset({("", "Secret")})

Pattern = tuple[str, str]  # (group or "*", kind or "*")


@dataclass(slots=True)
class KindPlan:
    resources: list[ApiResource] = field(default_factory=list)
    not_installed: list[str] = field(default_factory=list)  # "<kind>.<group>" wanted but not served
    not_served: set[tuple[str, str]] = field(default_factory=set)  # the same as (group, kind), exact groups only


def constraint_patterns(constraints: Iterable[Any]) -> set[Pattern]:
    """(group, kind) patterns from `spec.match.kinds` ('*' = any); a constraint without kinds matches all."""
    patterns: set[Pattern] = set()
    for constraint in constraints:
        entries = (constraint.match or {}).get("kinds") or []
        if not entries:
            patterns.add(("*", "*"))
        for entry in entries:
            groups = entry.get("apiGroups") or ["*"]
            kinds = entry.get("kinds") or ["*"]
            patterns.update((str(g), str(k)) for g in groups for k in kinds)
    return patterns


def groups_needed(patterns: set[Pattern]) -> set[str] | None:
    """API groups discovery must look at; None when a pattern spans every group."""
    if any(group == "*" for group, _ in patterns):
        return None
    return {group for group, _ in patterns} | {g for g, _ in INVENTORY_KINDS + OPTIONAL_KINDS} | {CONSTRAINTS_GROUP}


def plan(patterns: set[Pattern], discovery: Discovery) -> KindPlan:
    """Resolve patterns + inventory kinds against discovery; constraint kinds of installed templates included."""
    chosen: dict[tuple[str, str], ApiResource] = {}
    result = KindPlan()
    for key in INVENTORY_KINDS + OPTIONAL_KINDS:
        if key in discovery.resources:
            chosen[key] = discovery.resources[key]
    for key, res in discovery.resources.items():
        if key[0] == CONSTRAINTS_GROUP:
            chosen[key] = res
    for group, kind in sorted(patterns):
        hits = [k for k in discovery.resources
                if (group == "*" or k[0] == group) and (kind == "*" or k[1] == kind)]
        if not hits and kind != "*" and group not in discovery.failed_groups:  # failed: a coverage gap
            result.not_installed.append(f"{kind}.{group}" if group not in ("", "*") else kind)
            if group != "*":
                result.not_served.add((group, kind))
        for key in hits:
            chosen[key] = discovery.resources[key]
    result.resources = [chosen[k] for k in sorted(chosen)]
    return result
