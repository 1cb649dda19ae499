"""The resolved RBAC graph: every binding subject's grants, ServiceAccounts and the identities pods run as."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from scanner.analysis.rbac.capabilities import CLUSTER, RBAC_GROUP, Holding, holdings_of
from scanner.analysis.rbac.fields import list_or_empty, mapping_at
from scanner.analysis.rbac.roles import RoleRule, qualified, resolve_cluster_roles, role_rules
from scanner.analysis.rbac.subjects import MASTERS, Subject, implied_groups, subject_of_entry
from scanner.model import Resource
from scanner.workloads import WORKLOAD_KINDS, workload_of

_RBAC_KINDS = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
_GRAPH_KINDS = {"Namespace", "ServiceAccount", *(w.kind for w in WORKLOAD_KINDS), *_RBAC_KINDS}


@dataclass(frozen=True, slots=True)
class Grant:
    """A rule granted to a subject by one entry of one binding, in ``scope`` (a namespace or CLUSTER)."""

    subject: Subject
    scope: str
    rule: RoleRule
    binding: Resource
    subject_index: int

    @property
    def via(self) -> str:
        return f"{self.binding.kind} {qualified(self.binding)}"


@dataclass(slots=True)
class Graph:
    """The resolved RBAC graph of one set of objects."""

    grants: dict[Subject, list[Grant]] = field(default_factory=lambda: defaultdict(list))
    namespaces: set[str] = field(default_factory=set)
    service_accounts: set[Subject] = field(default_factory=set)
    pod_identities: dict[str, set[Subject]] = field(default_factory=lambda: defaultdict(set))
    roles: dict[tuple[str, str, str], list[RoleRule]] = field(default_factory=dict)
    subjects: list[Subject] = field(default_factory=list)  # every binding subject, sorted
    _accounts: dict[str, list[Subject]] = field(default_factory=dict)
    _holdings: dict[Subject, dict[Holding, Grant | None]] = field(default_factory=dict)

    def holdings(self, subject: Subject) -> dict[Holding, Grant | None]:
        """Dangerous capabilities of ``subject`` with the first grant of each (None: implied by the authorizer)."""
        cached = self._holdings.get(subject)
        if cached is None:
            cached = {}
            if subject in MASTERS or any(g in MASTERS for g in implied_groups(subject)):
                cached[("cluster-admin", CLUSTER)] = None
            for member in (subject, *implied_groups(subject)):
                for grant in self.grants.get(member, ()):
                    for holding in holdings_of(grant.rule.perms, grant.scope):
                        cached.setdefault(holding, grant)
            self._holdings[subject] = cached
        return cached

    def accounts_in(self, scope: str) -> list[Subject]:
        """ServiceAccounts (declared, plus `default` of every known namespace) a scope covers."""
        if not self._accounts:  # sorted once, by namespace (service_accounts is complete once the graph is built)
            everyone = sorted(self.service_accounts)
            for sa in everyone:
                self._accounts.setdefault(sa.namespace, []).append(sa)
            self._accounts[CLUSTER] = everyone
        return self._accounts.get(scope, [])


def _pod_spec(res: Resource) -> dict[str, Any] | None:
    """The pod spec whose pods run (as its ServiceAccount); None for other kinds and stored PodTemplates."""
    found = workload_of(res.obj)
    if found is None or not found.runs_pods:
        return None
    return mapping_at(res.obj, *found.pod_spec)


def build_graph(resources: Iterable[Resource]) -> Graph:
    """Resolve roles (aggregation, built-ins) and bindings of ``resources`` into grants per subject."""
    graph = Graph()
    cluster_roles: dict[str, Resource] = {}
    bindings: list[Resource] = []
    automount_off: set[Subject] = set()
    pods: list[tuple[str, dict[str, Any]]] = []
    for res in resources:
        obj = res.obj
        kind = obj.get("kind")
        meta = obj.get("metadata")
        if res.parent is not None or not isinstance(meta, dict):
            continue
        ns = str(meta.get("namespace") or "")
        if ns:
            graph.namespaces.add(ns)
        if kind not in _GRAPH_KINDS:
            continue
        group = str(obj.get("apiVersion", "")).rpartition("/")[0]
        if kind == "Namespace" and res.name:
            graph.namespaces.add(res.name)
        elif kind == "ServiceAccount" and group == "" and ns:
            graph.service_accounts.add(Subject("ServiceAccount", res.name, ns))
            if obj.get("automountServiceAccountToken") is False:
                automount_off.add(Subject("ServiceAccount", res.name, ns))
        elif group == RBAC_GROUP and kind == "ClusterRole":
            cluster_roles[res.name] = res
        elif group == RBAC_GROUP and kind == "Role":
            graph.roles[("Role", ns, res.name)] = role_rules(res)
        elif group == RBAC_GROUP and kind in ("RoleBinding", "ClusterRoleBinding"):
            bindings.append(res)
        elif kind not in _RBAC_KINDS:
            spec = _pod_spec(res)
            if spec and ns:
                pods.append((ns, spec))
    for ns in graph.namespaces:
        graph.service_accounts.add(Subject("ServiceAccount", "default", ns))
    for ns, spec in pods:
        sa = Subject("ServiceAccount", str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"),
                     ns)
        mounted = spec.get("automountServiceAccountToken")
        if mounted is True or (mounted is None and sa not in automount_off):
            graph.pod_identities[ns].add(sa)
    for name, rules in resolve_cluster_roles(cluster_roles).items():
        graph.roles[("ClusterRole", "", name)] = rules
    for binding in bindings:
        _add_binding(graph, binding)
    graph.subjects = sorted(graph.grants)
    return graph


def _add_binding(graph: Graph, binding: Resource) -> None:
    ref = mapping_at(binding.obj, "roleRef")
    ns = binding.namespace or ""
    ref_kind, ref_name = str(ref.get("kind", "")), str(ref.get("name", ""))
    if binding.kind == "ClusterRoleBinding":
        scope, key = CLUSTER, ("ClusterRole", "", ref_name)
    else:
        scope, key = ns, (ref_kind, ns if ref_kind == "Role" else "", ref_name)
    rules = graph.roles.get(key, [])
    for i, raw in enumerate(list_or_empty(binding.obj.get("subjects"))):
        if not isinstance(raw, dict) or raw.get("kind") not in ("User", "Group", "ServiceAccount"):
            continue
        subject = subject_of_entry(str(raw["kind"]), str(raw.get("name", "")), str(raw.get("namespace") or ns))
        for rule in rules:
            graph.grants[subject].append(Grant(subject, scope, rule, binding, i))
