"""Escalation paths one grant opens: pod creation or exec, token requests, impersonation, bind and escalate."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

from scanner.analysis.rbac.capabilities import (
    CLUSTER,
    RBAC_GROUP,
    WORKLOADS,
    Holding,
    Perms,
    allows,
    holdings_of,
    placement,
)
from scanner.analysis.rbac.graph import Grant, Graph
from scanner.analysis.rbac.rules import BIND_ESCALATE_IMPERSONATE, POD_CREATE, TOKEN
from scanner.analysis.rbac.subjects import MASTERS, SA_USER_PREFIX, Subject, implied_groups
from scanner.model import Resource

Enumerated = set[tuple[Subject, str, str]]  # (subject, scope, kind of path) already enumerated


@dataclass(frozen=True, slots=True)
class Path:
    """One escalation: ``grant`` lets its subject reach ``target`` (an identity or a role in a scope)."""

    rule_id: str
    grant: Grant
    action: str  # "can create pods in a"
    target: str  # "ServiceAccount a/ci"
    reached: dict[Holding, Grant | None]
    verb: str  # the enabling permission: "create on pods", "impersonate"
    target_role: Resource | None = None


_ENABLING_CHECKS = (
    *((g, r, "create") for g, r in WORKLOADS), ("", "pods/exec", "create"), ("", "pods/exec", "get"),
    ("", "serviceaccounts/token", "create"), ("", "users", "impersonate"), ("", "groups", "impersonate"),
    ("", "serviceaccounts", "impersonate"), (RBAC_GROUP, "clusterroles", "bind"), (RBAC_GROUP, "roles", "bind"),
    (RBAC_GROUP, "clusterroles", "escalate"), (RBAC_GROUP, "roles", "escalate"),
)


@functools.lru_cache(maxsize=4096)
def may_enable(perms: Perms) -> bool:
    """The rule grants a verb some escalation path starts from (resourceNames ignored)."""
    return any(allows(perms, group, resource, verb, any_name=True) for group, resource, verb in _ENABLING_CHECKS)


def _scope_text(scope: str) -> str:
    return "any namespace" if scope == CLUSTER else scope


def _workload_created(perms: Perms) -> str | None:
    for group, resource in WORKLOADS:
        if allows(perms, group, resource, "create"):
            return resource
    return None


def _first_time(done: Enumerated, grant: Grant, kind: str) -> bool:
    """Whether paths of ``kind`` are not yet enumerated for this grant's subject and scope (and mark them)."""
    key = (grant.subject, grant.scope, kind)
    if key in done:
        return False
    done.add(key)
    return True


def _needs_enumerating(done: Enumerated, grant: Grant, kind: str) -> bool:
    """Like `_first_time`, but a rule with resourceNames always enumerates its own (narrower) targets.

    Targets depend only on (subject, scope) unless the rule lists resourceNames; the first grant (in sorted
    order) reports them, later ones would find the same.
    """
    return bool(grant.rule.perms.names) or _first_time(done, grant, kind)


def paths_for(graph: Graph, grant: Grant, done: Enumerated) -> Iterator[Path]:
    """Escalation paths that ``grant`` opens; ``done`` remembers the (subject, scope, path) already enumerated."""
    perms, scope = grant.rule.perms, grant.scope
    created = _workload_created(perms)
    if created and _first_time(done, grant, "create"):
        for sa in graph.accounts_in(scope):
            yield Path(POD_CREATE, grant, f"can create {created} in {_scope_text(scope)} and so act as",
                       sa.display(), graph.holdings(sa), f"create on {created}")
    if (allows(perms, "", "pods/exec", "create") or allows(perms, "", "pods/exec", "get")) and \
            _first_time(done, grant, "exec"):
        for ns in sorted(graph.pod_identities):
            if scope in (CLUSTER, ns):
                for sa in sorted(graph.pod_identities[ns]):
                    yield Path(POD_CREATE, grant, f"can exec into pods in {ns} running as", sa.display(),
                               graph.holdings(sa), "exec into pods")
    if allows(perms, "", "serviceaccounts/token", "create", any_name=True) and \
            _needs_enumerating(done, grant, "token"):
        for sa in graph.accounts_in(scope):
            if allows(perms, "", "serviceaccounts/token", "create", sa.name):
                yield Path(TOKEN, grant, f"can create tokens in {_scope_text(scope)} for", sa.display(),
                           graph.holdings(sa), "create on serviceaccounts/token")
    impersonated = [r for r in ("users", "groups", "serviceaccounts") if allows(perms, "", r, "impersonate",
                                                                                 any_name=True)]
    if impersonated and _needs_enumerating(done, grant, f"impersonate {impersonated}"):  # targets depend on what
        yield from _impersonation(graph, grant)
    yield from _bind(graph, grant)
    yield from _escalate(graph, grant)


def _impersonation(graph: Graph, grant: Grant) -> Iterator[Path]:
    perms, scope = grant.rule.perms, grant.scope
    targets: list[Subject] = []
    if scope == CLUSTER:  # users and groups are cluster-scoped: a RoleBinding cannot grant them
        if allows(perms, "", "users", "impersonate", any_name=True):
            targets += [s for s in graph.subjects if s.kind == "User" and allows(perms, "", "users", "impersonate",
                                                                               s.name)]
            targets += [sa for sa in graph.accounts_in(CLUSTER) if allows(
                perms, "", "users", "impersonate", f"{SA_USER_PREFIX}{sa.namespace}:{sa.name}")]
        if allows(perms, "", "groups", "impersonate", any_name=True):
            targets += [s for s in sorted({*graph.subjects, *MASTERS})
                        if s.kind == "Group" and allows(perms, "", "groups", "impersonate", s.name)]
    if allows(perms, "", "serviceaccounts", "impersonate", any_name=True):
        targets += [sa for sa in graph.accounts_in(scope) if allows(perms, "", "serviceaccounts", "impersonate",
                                                                    sa.name)]
    for target in dict.fromkeys(targets):
        yield Path(BIND_ESCALATE_IMPERSONATE, grant, "can impersonate", target.display(), graph.holdings(target),
                   "impersonate")


def _can(graph: Graph, subject: Subject, group: str, resource: str, verbs: tuple[str, ...], scope: str) -> bool:
    """``subject`` (with its groups) may use one of ``verbs`` on ``resource`` in ``scope``."""
    for member in (subject, *implied_groups(subject)):
        for other in graph.grants.get(member, ()):
            if other.scope in (CLUSTER, scope) and any(allows(other.rule.perms, group, resource, v) for v in verbs):
                return True
    return False


def _bind(graph: Graph, grant: Grant) -> Iterator[Path]:
    """bind on roles + create on bindings: the subject can bind any (or the named) roles to itself."""
    perms, scope, subject = grant.rule.perms, grant.scope, grant.subject
    if scope == CLUSTER and _can(graph, subject, RBAC_GROUP, "clusterrolebindings", ("create",), CLUSTER):
        where = CLUSTER
    elif scope != CLUSTER and _can(graph, subject, RBAC_GROUP, "rolebindings", ("create",), scope):
        where = scope
    else:
        return
    if allows(perms, RBAC_GROUP, "clusterroles", "bind"):  # unrestricted: cluster-admin is the worst case
        yield _role_path(graph, grant, ("ClusterRole", "", "cluster-admin"), where, "can bind")
        return
    if not (allows(perms, RBAC_GROUP, "clusterroles", "bind", any_name=True)
            or allows(perms, RBAC_GROUP, "roles", "bind", any_name=True)):
        return
    for key in sorted(graph.roles):
        kind, ns, name = key
        resource = "clusterroles" if kind == "ClusterRole" else "roles"
        if (kind == "ClusterRole" or (where != CLUSTER and ns == where)) and allows(perms, RBAC_GROUP, resource,
                                                                                    "bind", name):
            yield _role_path(graph, grant, key, where, "can bind")


def _escalate(graph: Graph, grant: Grant) -> Iterator[Path]:
    """escalate + update on roles: the subject can add any rule to a role (cluster-admin in that scope).

    Through a ClusterRoleBinding this is about ClusterRoles (cluster-wide), through a RoleBinding about the Roles
    of its namespace (ClusterRoles are cluster-scoped: a RoleBinding cannot grant them).
    """
    perms, scope = grant.rule.perms, grant.scope
    resource = "clusterroles" if scope == CLUSTER else "roles"
    if allows(perms, RBAC_GROUP, resource, "escalate") and _can(graph, grant.subject, RBAC_GROUP, resource,
                                                               ("update", "patch"), scope):
        yield _role_path(graph, grant, ("ClusterRole", "", "cluster-admin"), scope, f"can escalate {resource} to")


def _role_path(graph: Graph, grant: Grant, key: tuple[str, str, str], where: str, action: str) -> Path:
    rules = graph.roles.get(key, [])
    holdings: dict[Holding, Grant | None] = {}
    for role_rule in rules:
        for holding in holdings_of(role_rule.perms, where):
            holdings.setdefault(holding, None)
    name = key[2] if key[0] == "ClusterRole" else f"{key[1]}/{key[2]}"
    return Path(BIND_ESCALATE_IMPERSONATE, grant, action, f"{key[0]} {name} {placement(where)}", holdings,
                action.split()[1], target_role=rules[0].role if rules else None)
