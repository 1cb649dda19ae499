"""Offline RBAC escalation analysis: who can become whom, across bindings, roles and ServiceAccounts.

Single-object policies (policies/rbac) report a dangerous verb on one role or one binding. This module resolves
the whole graph instead: every binding subject's effective permissions (RoleBindings and ClusterRoleBindings ->
Roles and ClusterRoles, aggregated ClusterRoles, the implicit groups of ServiceAccounts and users), then the
paths by which a subject turns one permission into another identity's: creating pods (or exec into them) to run
as a stronger ServiceAccount, requesting its token, or bind/escalate/impersonate. See docs/analysis-rbac.md.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from scanner.engine.catalogue import Rule
from scanner.engine.match import selector_matches
from scanner.model import Finding, Location, RelatedLocation, Resource, ResourceId, Severity, fingerprint

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_API = f"{RBAC_GROUP}/v1"
CLUSTER = "*"  # scope of a ClusterRoleBinding: every namespace
HELP_URL = "https://kubernetes.io/docs/concepts/security/rbac-good-practices/"
BOOTSTRAP_LABEL = ("kubernetes.io/bootstrapping", "rbac-defaults")
SA_USER_PREFIX = "system:serviceaccount:"  # the user name a ServiceAccount token authenticates as

POD_CREATE = "rbac-escalation-pod-create"
TOKEN = "rbac-escalation-token"
BIND_ESCALATE_IMPERSONATE = "rbac-escalation-bind-escalate-impersonate"

RULES = (
    Rule(
        id=POD_CREATE, kind="RbacEscalationPodCreate", severity=Severity.HIGH, category="rbac",
        title="Pod creation or exec reaches a more powerful ServiceAccount",
        description="A subject that can create pods (or Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, "
                    "CronJobs, ReplicationControllers) in a namespace can run a pod as any ServiceAccount of that "
                    "namespace and use its token; one that can exec into pods gets the token of the pods' "
                    "ServiceAccount. Reported when such a ServiceAccount holds dangerous permissions the subject "
                    "does not (whole-graph analysis of bindings, roles and groups).",
        tags=("rbac", "privilege-escalation", "analysis"),
        remediation="Remove the pod/workload create (or pods/exec) permission from the subject, move the powerful "
                    "ServiceAccount to a namespace the subject cannot create pods in, or reduce that "
                    "ServiceAccount's permissions.",
        help_url=HELP_URL, source="scanner/analysis/rbac.py",
    ),
    Rule(
        id=TOKEN, kind="RbacEscalationToken", severity=Severity.HIGH, category="rbac",
        title="Token creation for a more powerful ServiceAccount",
        description="create on serviceaccounts/token issues a token for a ServiceAccount, so the subject gains "
                    "all of its permissions. Reported when that ServiceAccount holds dangerous permissions the "
                    "subject does not.",
        tags=("rbac", "privilege-escalation", "analysis"),
        remediation="Remove create on serviceaccounts/token, or restrict it with resourceNames to "
                    "ServiceAccounts that hold no more than the subject itself.",
        help_url=HELP_URL, source="scanner/analysis/rbac.py",
    ),
    Rule(
        id=BIND_ESCALATE_IMPERSONATE, kind="RbacEscalationBindEscalateImpersonate", severity=Severity.CRITICAL,
        category="rbac",
        title="bind, escalate or impersonate reaches more permissions",
        description="bind (with create on bindings) lets a subject bind any role, cluster-admin included, to "
                    "itself; escalate (with update on roles) lets it add any permission to a role it holds; "
                    "impersonate lets it act as other users, groups (system:masters included) or "
                    "ServiceAccounts. Reported with the identity or role reached and what it adds.",
        tags=("rbac", "privilege-escalation", "analysis"),
        remediation="Remove bind, escalate and impersonate from the subject's roles, or restrict them with "
                    "resourceNames to roles and identities that hold no more than the subject itself.",
        help_url=HELP_URL, source="scanner/analysis/rbac.py",
    ),
)

# Built-in ClusterRoles known by name when the scanned set does not hold them (approximations of the
# Kubernetes bootstrap policy; see docs/analysis-rbac.md).
_READ = ["get", "list", "watch"]
_WRITE = ["create", "delete", "deletecollection", "patch", "update", *_READ]
_CORE_VIEW = ["pods", "pods/log", "pods/status", "services", "endpoints", "configmaps", "persistentvolumeclaims",
              "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "events", "limitranges",
              "resourcequotas", "namespaces"]
_APPS = ["deployments", "deployments/scale", "replicasets", "replicasets/scale", "statefulsets",
         "statefulsets/scale", "daemonsets"]
_OTHER = [("batch", ["jobs", "cronjobs"]), ("autoscaling", ["horizontalpodautoscalers"]),
          ("policy", ["poddisruptionbudgets"]), ("networking.k8s.io", ["networkpolicies", "ingresses"])]
_VIEW_RULES = [{"apiGroups": [""], "resources": _CORE_VIEW, "verbs": _READ},
               {"apiGroups": ["apps"], "resources": _APPS, "verbs": _READ},
               *({"apiGroups": [g], "resources": r, "verbs": _READ} for g, r in _OTHER)]
_EDIT_RULES = [{"apiGroups": [""], "verbs": _WRITE,
                "resources": ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets",
                              "services", "configmaps", "persistentvolumeclaims", "replicationcontrollers",
                              "replicationcontrollers/scale", "serviceaccounts", "endpoints"]},
               {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]},
               {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]},
               {"apiGroups": ["apps"], "resources": _APPS, "verbs": _WRITE},
               *({"apiGroups": [g], "resources": r, "verbs": _WRITE} for g, r in _OTHER),
               *_VIEW_RULES]
BUILTIN_CLUSTER_ROLES: dict[str, list[dict[str, Any]]] = {
    "cluster-admin": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                      {"nonResourceURLs": ["*"], "verbs": ["*"]}],
    "admin": [{"apiGroups": [RBAC_GROUP], "resources": ["roles", "rolebindings"], "verbs": _WRITE}, *_EDIT_RULES],
    "edit": _EDIT_RULES,
    "view": _VIEW_RULES,
}

# Dangerous capabilities, most severe first: name -> (label, [(group, resource, verb, namespaced)]).
# A capability checked only on cluster-scoped resources (namespaced=False) is inert in a RoleBinding.
_WORKLOADS = [("", "pods"), ("apps", "deployments"), ("apps", "statefulsets"), ("apps", "daemonsets"),
              ("apps", "replicasets"), ("batch", "jobs"), ("batch", "cronjobs"), ("", "replicationcontrollers")]
CAPABILITIES: dict[str, tuple[str, list[tuple[str, str, str, bool]]]] = {
    "cluster-admin": ("every permission (cluster-admin equivalent)", []),  # a full-wildcard rule, see _holdings_of
    "escalate": ("escalate on roles", [(RBAC_GROUP, "clusterroles", "escalate", True),
                                       (RBAC_GROUP, "roles", "escalate", True)]),
    "bind": ("bind on roles", [(RBAC_GROUP, "clusterroles", "bind", True), (RBAC_GROUP, "roles", "bind", True)]),
    "impersonate": ("impersonate", [("", "users", "impersonate", False), ("", "groups", "impersonate", False),
                                    ("", "serviceaccounts", "impersonate", True)]),
    "nodes-proxy": ("nodes/proxy access", [("", "nodes/proxy", "get", False), ("", "nodes/proxy", "create", False)]),
    "secrets-read": ("read access to Secrets", [("", "secrets", v, True) for v in _READ]),
    "token-create": ("create on serviceaccounts/token", [("", "serviceaccounts/token", "create", True)]),
    "pod-create": ("pod creation", [(g, r, "create", True) for g, r in _WORKLOADS]),
    "pod-exec": ("exec into pods", [("", "pods/exec", "create", True), ("", "pods/exec", "get", True),
                                    ("", "pods/attach", "create", True)]),
}
_RANK = {name: i for i, name in enumerate(CAPABILITIES)}
_CRITICAL_CAPS = {"cluster-admin", "escalate", "bind", "impersonate"}


@dataclass(frozen=True, slots=True, order=True)
class Subject:
    """A binding subject: User, Group or ServiceAccount (namespace only for ServiceAccounts)."""

    kind: str
    name: str
    namespace: str = ""

    def display(self) -> str:
        if self.kind == "ServiceAccount":
            return f"ServiceAccount {self.namespace}/{self.name}"
        return f"{self.kind} {self.name}"


@dataclass(frozen=True, slots=True)
class RoleRule:
    """One rule of a role; ``role`` is None for a built-in ClusterRole that is not in the scanned set."""

    role: Resource | None
    role_label: str
    index: int
    rule: dict[str, Any]
    perms: Perms


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
        return f"{self.binding.kind} {_qualified(self.binding)}"


Holding = tuple[str, str]  # (capability, scope)


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
            if subject in _MASTERS or any(g in _MASTERS for g in implied_groups(subject)):
                cached[("cluster-admin", CLUSTER)] = None
            for member in (subject, *implied_groups(subject)):
                for grant in self.grants.get(member, ()):
                    for holding in _holdings_of(grant.rule.perms, grant.scope):
                        cached.setdefault(holding, grant)
            self._holdings[subject] = cached
        return cached

    def accounts_in(self, scope: str) -> list[Subject]:
        """ServiceAccounts (declared, plus `default` of every known namespace) a scope covers."""
        found = self._accounts.get(scope)
        if found is None:
            found = self._accounts[scope] = sorted(sa for sa in self.service_accounts
                                                   if scope in (CLUSTER, sa.namespace))
        return found


_MASTERS = {Subject("Group", "system:masters")}


def implied_groups(subject: Subject) -> tuple[Subject, ...]:
    """The groups the API server adds to an authenticated identity."""
    authenticated = Subject("Group", "system:authenticated")
    if subject.kind == "ServiceAccount":
        return (Subject("Group", "system:serviceaccounts"),
                Subject("Group", f"system:serviceaccounts:{subject.namespace}"), authenticated)
    if subject.kind == "User":
        if subject.name == "system:anonymous":
            return (Subject("Group", "system:unauthenticated"),)
        return (authenticated,)
    if subject.name in ("system:authenticated", "system:unauthenticated"):
        return ()
    if subject.name.startswith("system:serviceaccounts:"):
        return (Subject("Group", "system:serviceaccounts"), authenticated)
    return (authenticated,)


def _qualified(res: Resource) -> str:
    return f"{res.namespace}/{res.name}" if res.namespace and res.kind != "ClusterRoleBinding" else res.name


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
def _holdings_of(perms: Perms, scope: str) -> tuple[Holding, ...]:
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


def gained(target: dict[Holding, Grant | None], subject: dict[Holding, Any]) -> list[tuple[Holding, Grant | None]]:
    """What ``target`` holds that ``subject`` does not, most severe first."""
    extra = [(h, g) for h, g in target.items() if not covered(subject, *h)]
    if not extra:
        return extra
    extra.sort(key=lambda item: (_RANK[item[0][0]], item[0][1] != CLUSTER, item[0][1]))
    admin = {h: g for h, g in extra if h[0] == "cluster-admin"}  # what cluster-admin implies is not listed
    return [(h, g) for h, g in extra if h in admin or not covered(admin, *h)]


def _describe(holding: Holding) -> str:
    cap, scope = holding
    where = "cluster-wide" if scope == CLUSTER else f"in namespace {scope}"
    return f"{CAPABILITIES[cap][0]} {where}"


# --- building the graph -------------------------------------------------------------------------------------

_WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController"}
_RBAC_KINDS = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
_GRAPH_KINDS = {"Namespace", "ServiceAccount", "Pod", "CronJob", *_WORKLOAD_KINDS, *_RBAC_KINDS}


def _map(value: Any, *keys: str) -> dict[str, Any]:
    """``value[keys[0]][keys[1]]...`` when every step is a mapping, else {} (malformed input never raises)."""
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _valid_selector(selector: Any) -> bool:
    """A LabelSelector shaped as selector_matches expects (malformed ones match nothing)."""
    return (isinstance(selector, dict) and isinstance(selector.get("matchLabels") or {}, dict)
            and all(isinstance(e, dict) for e in _list(selector.get("matchExpressions") or [])))


def _pod_spec(res: Resource) -> dict[str, Any] | None:
    if res.kind == "Pod":
        return _map(res.obj, "spec")
    if res.kind == "CronJob":
        return _map(res.obj, "spec", "jobTemplate", "spec", "template", "spec")
    if res.kind in _WORKLOAD_KINDS:
        return _map(res.obj, "spec", "template", "spec")
    return None


def _role_rules(res: Resource) -> list[RoleRule]:
    label = f"{res.kind} {_qualified(res)}"
    return [RoleRule(res, label, i, rule, Perms.of(rule)) for i, rule in enumerate(_list(res.obj.get("rules")))
            if isinstance(rule, dict)]


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
            graph.roles[("Role", ns, res.name)] = _role_rules(res)
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
    for name, rules in _resolve_cluster_roles(cluster_roles).items():
        graph.roles[("ClusterRole", "", name)] = rules
    for binding in bindings:
        _add_binding(graph, binding)
    graph.subjects = sorted(graph.grants)
    return graph


def _resolve_cluster_roles(cluster_roles: dict[str, Resource]) -> dict[str, list[RoleRule]]:
    """Own rules plus, for aggregated ClusterRoles, the rules of every ClusterRole their selectors match."""
    own = {name: _role_rules(res) for name, res in cluster_roles.items()}

    def labels(name: str) -> dict[str, Any]:
        found = cluster_roles[name].metadata.get("labels")
        return found if isinstance(found, dict) else {}

    def resolve(name: str, seen: frozenset[str]) -> list[RoleRule]:
        selectors = _list(_map(cluster_roles[name].obj, "aggregationRule").get("clusterRoleSelectors"))
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


def _subject(kind: str, name: str, namespace: str) -> Subject:
    """The identity a subject entry names; User system:serviceaccount:<ns>:<name> is that ServiceAccount."""
    if kind == "ServiceAccount":
        return Subject(kind, name, namespace)
    parts = name.split(":")
    if kind == "User" and len(parts) == 4 and name.startswith(SA_USER_PREFIX) and all(parts[2:]):
        return Subject("ServiceAccount", parts[3], parts[2])
    return Subject(kind, name)


def _add_binding(graph: Graph, binding: Resource) -> None:
    ref = _map(binding.obj, "roleRef")
    ns = binding.namespace or ""
    ref_kind, ref_name = str(ref.get("kind", "")), str(ref.get("name", ""))
    if binding.kind == "ClusterRoleBinding":
        scope, key = CLUSTER, ("ClusterRole", "", ref_name)
    else:
        scope, key = ns, (ref_kind, ns if ref_kind == "Role" else "", ref_name)
    rules = graph.roles.get(key, [])
    for i, raw in enumerate(_list(binding.obj.get("subjects"))):
        if not isinstance(raw, dict) or raw.get("kind") not in ("User", "Group", "ServiceAccount"):
            continue
        kind = str(raw["kind"])
        subject = _subject(kind, str(raw.get("name", "")), str(raw.get("namespace") or ns))
        for rule in rules:
            graph.grants[subject].append(Grant(subject, scope, rule, binding, i))


# --- escalation paths -----------------------------------------------------------------------------------------

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


def _scope_text(scope: str) -> str:
    return "any namespace" if scope == CLUSTER else scope


def _workload_created(perms: Perms) -> str | None:
    for group, resource in _WORKLOADS:
        if allows(perms, group, resource, "create"):
            return resource
    return None


_ENABLING_CHECKS = (
    *((g, r, "create") for g, r in _WORKLOADS), ("", "pods/exec", "create"), ("", "pods/exec", "get"),
    ("", "serviceaccounts/token", "create"), ("", "users", "impersonate"), ("", "groups", "impersonate"),
    ("", "serviceaccounts", "impersonate"), (RBAC_GROUP, "clusterroles", "bind"), (RBAC_GROUP, "roles", "bind"),
    (RBAC_GROUP, "clusterroles", "escalate"), (RBAC_GROUP, "roles", "escalate"),
)


@functools.lru_cache(maxsize=4096)
def _may_enable(perms: Perms) -> bool:
    """The rule grants a verb some escalation path starts from (resourceNames ignored)."""
    return any(allows(perms, group, resource, verb, any_name=True) for group, resource, verb in _ENABLING_CHECKS)


def _first(done: set[tuple[Subject, str, str]], grant: Grant, kind: str) -> bool:
    """Whether paths of ``kind`` still need enumerating for this grant's subject and scope.

    Targets depend only on (subject, scope) unless the rule lists resourceNames; the first grant (in sorted
    order) reports them, later ones would find the same.
    """
    if grant.rule.perms.names:
        return True
    key = (grant.subject, grant.scope, kind)
    if key in done:
        return False
    done.add(key)
    return True


def _paths_for(graph: Graph, grant: Grant, done: set[tuple[Subject, str, str]]) -> Iterator[Path]:
    """Escalation paths that ``grant`` opens; ``done`` remembers the (subject, scope, path) already enumerated."""
    perms, scope = grant.rule.perms, grant.scope
    created = _workload_created(perms)
    if created and (grant.subject, scope, "create") not in done:
        done.add((grant.subject, scope, "create"))
        for sa in graph.accounts_in(scope):
            yield Path(POD_CREATE, grant, f"can create {created} in {_scope_text(scope)} and so act as",
                       sa.display(), graph.holdings(sa), f"create on {created}")
    if (allows(perms, "", "pods/exec", "create") or allows(perms, "", "pods/exec", "get")) and \
            (grant.subject, scope, "exec") not in done:
        done.add((grant.subject, scope, "exec"))
        for ns in sorted(graph.pod_identities):
            if scope in (CLUSTER, ns):
                for sa in sorted(graph.pod_identities[ns]):
                    yield Path(POD_CREATE, grant, f"can exec into pods in {ns} running as", sa.display(),
                               graph.holdings(sa), "exec into pods")
    if allows(perms, "", "serviceaccounts/token", "create", any_name=True) and _first(done, grant, "token"):
        for sa in graph.accounts_in(scope):
            if allows(perms, "", "serviceaccounts/token", "create", sa.name):
                yield Path(TOKEN, grant, f"can create tokens in {_scope_text(scope)} for", sa.display(),
                           graph.holdings(sa), "create on serviceaccounts/token")
    impersonated = [r for r in ("users", "groups", "serviceaccounts") if allows(perms, "", r, "impersonate",
                                                                                 any_name=True)]
    if impersonated and _first(done, grant, f"impersonate {impersonated}"):  # the targets depend on what
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
            targets += [s for s in sorted({*graph.subjects, *_MASTERS})
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
        for holding in _holdings_of(role_rule.perms, where):
            holdings.setdefault(holding, None)
    name = key[2] if key[0] == "ClusterRole" else f"{key[1]}/{key[2]}"
    place = "cluster-wide" if where == CLUSTER else f"in namespace {where}"
    return Path(BIND_ESCALATE_IMPERSONATE, grant, action, f"{key[0]} {name} {place}", holdings,
                action.split()[1], target_role=rules[0].role if rules else None)


# --- findings ---------------------------------------------------------------------------------------------------

def _location(res: Resource, path: tuple[str | int, ...]) -> Location:
    file, pos = res.locate(path)
    return Location(path=file, line=pos.line, column=pos.column, end_line=pos.end_line, end_column=pos.end_column)


def _is_bootstrap(res: Resource) -> bool:
    labels = res.metadata.get("labels")
    return isinstance(labels, dict) and labels.get(BOOTSTRAP_LABEL[0]) == BOOTSTRAP_LABEL[1]


def _finding(path: Path, lost: list[tuple[Holding, Grant | None]], rules: dict[str, Rule]) -> Finding:
    grant, rule = path.grant, rules[path.rule_id]
    top, top_grant = lost[0]
    if top_grant is not None:
        via = f" via {top_grant.via}"
    elif path.target == "Group system:masters":
        via = " (system:masters bypasses RBAC)"
    else:
        via = ""
    more = f" (and {len(lost) - 1} more)" if len(lost) > 1 else ""
    message = f"{grant.subject.display()} {path.action} {path.target}, which has {_describe(top)}{via}{more}"
    severity = Severity.CRITICAL if any(h[0] in _CRITICAL_CAPS and h[1] == CLUSTER for h, _ in lost) \
        else Severity.HIGH
    related = []
    if grant.rule.role is not None:
        related.append(RelatedLocation(resource=grant.rule.role.identity,
                                       location=_location(grant.rule.role, ("rules", grant.rule.index)),
                                       message=f"rule {grant.rule.index} grants {path.verb}"))
    else:
        related.append(RelatedLocation(resource=ResourceId(api_version=RBAC_API, kind="ClusterRole",
                                                           name=grant.rule.role_label.split()[1]),
                                       location=None,
                                       message=f"built-in role (not in the scanned set) grants {path.verb}"))
    if top_grant is not None:
        related.append(RelatedLocation(resource=top_grant.binding.identity,
                                       location=_location(top_grant.binding, ("subjects", top_grant.subject_index)),
                                       message=f"gives {path.target} {_describe(top)}"))
    elif path.target_role is not None:
        related.append(RelatedLocation(resource=path.target_role.identity, location=_location(path.target_role, ()),
                                       message=f"grants {_describe(top)}"))
    ident = grant.binding.identity
    field_path = ("subjects", grant.subject_index)
    return Finding(
        rule_id=rule.id, severity=severity, category=rule.category, tags=rule.tags, message=message,
        resource=ident, location=_location(grant.binding, field_path), field_path=field_path,
        remediation=rule.remediation, constraint=f"{rule.kind}/{rule.id}", related=tuple(related),
        fingerprint=fingerprint(rule.id, ident, (*field_path, path.target)),
    )


def analyse(resources: Iterable[Resource]) -> tuple[list[Finding], list[Rule]]:
    """Escalation paths in ``resources`` as findings (sorted), with the rules they belong to."""
    graph = build_graph(resources)
    rules = {r.id: r for r in RULES}
    findings: list[Finding] = []
    seen: set[tuple[str, Subject, str]] = set()
    done: set[tuple[Subject, str, str]] = set()
    ordered = sorted((g for grants in graph.grants.values() for g in grants),
                     key=lambda g: (g.subject, g.binding.path, g.binding.doc_index, g.subject_index, g.rule.index))
    for grant in ordered:
        if _is_bootstrap(grant.binding) or not _may_enable(grant.rule.perms):
            continue
        subject_holdings = graph.holdings(grant.subject)
        if ("cluster-admin", CLUSTER) in subject_holdings:
            continue  # nothing left to gain
        for path in _paths_for(graph, grant, done):
            key = (path.rule_id, grant.subject, path.target)
            if key in seen or path.target == grant.subject.display():
                continue
            lost = gained(path.reached, subject_holdings)
            if lost:
                seen.add(key)
                findings.append(_finding(path, lost, rules))
    findings.sort(key=Finding.sort_key)
    return findings, list(RULES)
