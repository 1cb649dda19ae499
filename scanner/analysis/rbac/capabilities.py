"""Permissions of one policy rule and the dangerous capabilities they grant in a scope."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

RBAC_GROUP = "rbac.authorization.k8s.io"
CLUSTER = "*"  # scope of a ClusterRoleBinding: every namespace
READ_VERBS = ["get", "list", "watch"]

Holding = tuple[str, str]  # (capability, scope)

# Resources whose creation runs a pod, as any ServiceAccount of the namespace (every kind of scanner.workloads that
# runs pods, in its current API group).
WORKLOADS = [("", "pods"), ("apps", "deployments"), ("apps", "statefulsets"), ("apps", "daemonsets"),
             ("apps", "replicasets"), ("batch", "jobs"), ("batch", "cronjobs"), ("", "replicationcontrollers"),
             ("argoproj.io", "rollouts")]

# Dangerous capabilities, most severe first: name -> (label, [(group, resource, verb, namespaced)]).
# A capability checked only on cluster-scoped resources (namespaced=False) is inert in a RoleBinding.
CAPABILITIES: dict[str, tuple[str, list[tuple[str, str, str, bool]]]] = {
    "cluster-admin": ("every permission (cluster-admin equivalent)", []),  # a full-wildcard rule, see holdings_of
    "escalate": ("escalate on roles", [(RBAC_GROUP, "clusterroles", "escalate", True),
                                       (RBAC_GROUP, "roles", "escalate", True)]),
    "bind": ("bind on roles", [(RBAC_GROUP, "clusterroles", "bind", True), (RBAC_GROUP, "roles", "bind", True)]),
    "impersonate": ("impersonate", [("", "users", "impersonate", False), ("", "groups", "impersonate", False),
                                    ("", "serviceaccounts", "impersonate", True)]),
    "nodes-proxy": ("nodes/proxy access", [("", "nodes/proxy", "get", False), ("", "nodes/proxy", "create", False)]),
    "secrets-read": ("read access to Secrets", [("", "secrets", v, True) for v in READ_VERBS]),
    "token-create": ("create on serviceaccounts/token", [("", "serviceaccounts/token", "create", True)]),
    "pod-create": ("pod creation", [(g, r, "create", True) for g, r in WORKLOADS]),
    "pod-exec": ("exec into pods", [("", "pods/exec", "create", True), ("", "pods/exec", "get", True),
                                    ("", "pods/attach", "create", True)]),
}
_RANK = {name: i for i, name in enumerate(CAPABILITIES)}
CRITICAL_CAPABILITIES = {"cluster-admin", "escalate", "bind", "impersonate"}


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


@dataclass(frozen=True, slots=True)
class Perms:
    """A policy rule's lists as sets (parsed once per rule)."""

    groups: frozenset[str]
    resources: frozenset[str]
    verbs: frozenset[str]
    names: frozenset[str]

    @classmethod
    def of(cls, rule: dict[str, Any]) -> Perms:
        return cls(*(frozenset(_strings(rule.get(key))) for key in ("apiGroups", "resources", "verbs",
                                                                     "resourceNames")))


def allows(perms: Perms, group: str, resource: str, verb: str, name: str | None = None, *,
           any_name: bool = False) -> bool:
    """The rule allows ``verb`` on ``resource`` (``pods/exec`` for subresources) in ``group``.

    A rule with resourceNames allows only requests naming one of them (``name``), never a broad request;
    ``any_name`` ignores resourceNames (does the rule allow this for at least one name?).
    """
    if group not in perms.groups and "*" not in perms.groups:
        return False
    if verb not in perms.verbs and "*" not in perms.verbs:
        return False
    resources = perms.resources
    if resource not in resources and "*" not in resources:
        sub = resource.partition("/")[2]
        if not sub or f"*/{sub}" not in resources:
            return False
    return any_name or not perms.names or (name is not None and name in perms.names)


@functools.lru_cache(maxsize=4096)
def holdings_of(perms: Perms, scope: str) -> tuple[Holding, ...]:
    """The dangerous capabilities one rule grants in ``scope``."""
    found: list[Holding] = []
    if not perms.names and all("*" in values for values in (perms.groups, perms.resources, perms.verbs)):
        found.append(("cluster-admin", scope))
    for cap, (_, checks) in CAPABILITIES.items():
        for group, resource, verb, namespaced in checks:
            if (namespaced or scope == CLUSTER) and allows(perms, group, resource, verb):
                found.append((cap, scope))
                break
    return tuple(found)


def covered(holdings: dict[Holding, Any], cap: str, scope: str) -> bool:
    """The subject already holds ``cap`` in ``scope`` (or something that implies it)."""
    if ("cluster-admin", CLUSTER) in holdings or ("cluster-admin", scope) in holdings:
        return True
    if (cap, CLUSTER) in holdings or (cap, scope) in holdings:
        return True
    # creating a pod in a namespace mounts any Secret of that namespace
    return cap == "secrets-read" and (("pod-create", CLUSTER) in holdings or ("pod-create", scope) in holdings)


def gained(target: dict[Holding, Any], subject: dict[Holding, Any]) -> list[tuple[Holding, Any]]:
    """What ``target`` holds that ``subject`` does not, most severe first (with ``target``'s values)."""
    extra = [(h, g) for h, g in target.items() if not covered(subject, *h)]
    if not extra:
        return extra
    extra.sort(key=lambda item: (_RANK[item[0][0]], item[0][1] != CLUSTER, item[0][1]))
    admin = {h: g for h, g in extra if h[0] == "cluster-admin"}  # what cluster-admin implies is not listed
    return [(h, g) for h, g in extra if h in admin or not covered(admin, *h)]


def placement(scope: str) -> str:
    """``cluster-wide`` or ``in namespace N``."""
    return "cluster-wide" if scope == CLUSTER else f"in namespace {scope}"


def describe(holding: Holding) -> str:
    cap, scope = holding
    return f"{CAPABILITIES[cap][0]} {placement(scope)}"
