"""Which workloads can open connections to which, computed offline from the scanned NetworkPolicies.

Kubernetes semantics (networking.k8s.io/v1): a connection from workload A to workload B on a port is allowed iff
A's egress allows it (no Egress policy in A's namespace selects A, or a selecting policy's egress rule admits B's
pod, namespace and port) and B's ingress allows it (symmetrically). Pods with the same namespace, labels and
container ports behave identically, so the graph is built over such groups, indexed by namespace.

`analyse` reports `seg-reachability-cross-environment` on the destination workload, blaming the NetworkPolicy
ingress peer that admits the source (or the workload's pod template when nothing isolates it for ingress).
See docs/analysis-reachability.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scanner.analysis.reachability_rules import CROSS_ENVIRONMENT, RULES
from scanner.engine.match import selector_matches
from scanner.model import (
    FieldPath,
    Finding,
    RelatedLocation,
    Resource,
    ResourceId,
    fingerprint,
)
from scanner.workloads import group_of, value_at, workload_controller
from scanner.workloads import workload as workload_kind

if TYPE_CHECKING:
    from scanner.engine.catalogue import Rule

ENVIRONMENT_LABELS = ("environment", "app.kubernetes.io/environment")
_ENV_SUFFIX = re.compile(r"-(dev|development|staging|prod|production)$")
_ENV_ALIASES = {"dev": "development", "prod": "production", "stage": "staging", "stg": "staging"}
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
ALL_PORTS: None = None  # a PortSet of None means every port of every protocol
PortSet = frozenset[tuple[str, int, int]] | None  # (protocol, first, last) ranges



@dataclass(frozen=True, slots=True)
class Workload:
    resource: Resource
    namespace: str
    labels: dict[str, str]
    template_path: FieldPath
    ports: tuple[tuple[str, int, str], ...]  # (name, containerPort, protocol) of named container ports
    identity: ResourceId

    @property
    def sort_key(self) -> tuple[str, str, str, str]:
        return (self.namespace, self.resource.kind, self.resource.name, self.resource.api_version)


@dataclass(frozen=True, slots=True)
class Peer:
    """One `from`/`to` entry: the pods it can match (a podSelector alone: in the policy's own namespace)."""

    index: int
    namespaces: frozenset[str] | None  # namespaces whose pods the peer can match; None: no workload (ipBlock)
    pod_selector: dict[str, Any] | None  # None: every pod of those namespaces


@dataclass(frozen=True, slots=True)
class PolicyRule:
    policy: Resource
    direction: str  # "ingress" | "egress"
    index: int
    peers: tuple[Peer, ...] | None  # None: every peer (no `from`/`to`)
    ports: tuple[tuple[str, int | str, int], ...] | None  # (protocol, port or name, endPort); None: all ports

    @property
    def field_path(self) -> FieldPath:
        return ("spec", self.direction, self.index)

    def reaches_namespace(self, namespace: str) -> bool:
        return self.peers is None or any(p.namespaces is not None and namespace in p.namespaces for p in self.peers)

    def port_set(self, destination: Group) -> PortSet:
        """The ports this rule opens towards ``destination`` (named ports resolved on its containers)."""
        if self.ports is None:
            return ALL_PORTS
        ranges: set[tuple[str, int, int]] = set()
        for protocol, port, end in self.ports:
            if isinstance(port, int):
                ranges.add((protocol, port, max(port, end)))
            else:
                ranges.update((protocol, number, number) for name, number, proto in destination.ports
                              if name == port and proto == protocol)
        return frozenset(ranges)


@dataclass(slots=True)
class Group:
    """Workloads of one namespace with the same pod labels and container ports: NetworkPolicies see them alike."""

    index: int  # position in the graph's order (that of the groups' first workloads)
    namespace: str
    labels: dict[str, str]
    label_key: tuple[tuple[str, str], ...]
    ports: tuple[tuple[str, int, str], ...]
    members: list[Workload] = field(default_factory=list)
    ingress: list[PolicyRule] | None = None  # None: not isolated for ingress
    egress: list[PolicyRule] | None = None  # None: not isolated for egress

    @property
    def example(self) -> Workload:
        return self.members[0]

    def egress_namespaces(self) -> frozenset[str] | None:
        """The namespaces its egress may reach (`PolicyRule.reaches_namespace` for all of them at once); None: any
        (not isolated for egress, or a rule to every peer)."""
        if self.egress is None or any(rule.peers is None for rule in self.egress):
            return None
        return frozenset(ns for rule in self.egress for peer in rule.peers or () if peer.namespaces is not None
                         for ns in peer.namespaces)


@dataclass(frozen=True, slots=True)
class Connection:
    """Why ``source`` may connect to ``destination``: the admitting rules (None: not isolated) and the ports."""

    source: Group
    destination: Group
    ingress_rule: PolicyRule | None
    ingress_peer: Peer | None
    egress_rule: PolicyRule | None
    ports: PortSet


@dataclass(slots=True)
class Graph:
    groups: list[Group]
    by_namespace: dict[str, list[Group]]
    namespace_labels: dict[str, dict[str, str]]
    _admitted: dict[int, dict[int, Peer]] = field(default_factory=dict)  # by id(rule)
    _admitted_by_peers: dict[tuple[Any, ...], dict[int, int]] = field(default_factory=dict)
    _selector_hits: dict[tuple[str, tuple[tuple[str, str], ...]], bool] = field(default_factory=dict)

    def admitted(self, rule: PolicyRule) -> dict[int, Peer] | None:
        """Group index -> the first peer of ``rule`` that matches the group (None: the rule admits everyone).

        Computed once per distinct list of peers (every namespace often has the same policies), with selector
        results shared between groups that have the same labels.
        """
        if rule.peers is None:
            return None
        hit = self._admitted.get(id(rule))
        if hit is None:
            positions = self.admitted_positions(rule) or {}
            hit = self._admitted[id(rule)] = {index: rule.peers[position] for index, position in positions.items()}
        return hit

    def admitted_positions(self, rule: PolicyRule) -> dict[int, int] | None:
        """Group index -> position of the first matching peer; one shared dict per distinct list of peers."""
        if rule.peers is None:
            return None
        key = tuple((peer.namespaces, repr(peer.pod_selector)) for peer in rule.peers)
        positions = self._admitted_by_peers.get(key)
        if positions is None:
            positions = self._admitted_by_peers[key] = {}
            for position, peer in enumerate(rule.peers):
                selector_key = repr(peer.pod_selector)
                for namespace in sorted(peer.namespaces or ()):
                    for group in self.by_namespace.get(namespace, ()):
                        if group.index not in positions and self._matches(selector_key, peer.pod_selector, group):
                            positions[group.index] = position
        return positions

    def _matches(self, key: str, selector: dict[str, Any] | None, group: Group) -> bool:
        if selector is None:
            return True
        memo = (key, group.label_key)
        found = self._selector_hits.get(memo)
        if found is None:
            found = self._selector_hits[memo] = selector_matches(selector, group.labels)
        return found

    def connection(self, source: Group, destination: Group) -> Connection | None:
        """The connection ``source`` -> ``destination`` if both policies allow some port, else None."""
        egress_rules: list[tuple[PolicyRule, PortSet]] = []
        egress_ports: PortSet = ALL_PORTS
        if source.egress is not None:
            egress_rules = self._egress(source, destination)
            egress_ports = union(ports for _, ports in egress_rules)
            if egress_ports is not None and not egress_ports:
                return None
        if destination.ingress is None:
            return Connection(source, destination, None, None, _opening(egress_rules, egress_ports), egress_ports)
        for rule in destination.ingress:
            admitted = self.admitted(rule)
            peer = None if admitted is None else admitted.get(source.index)
            if admitted is not None and peer is None:
                continue
            ports = intersect(rule.port_set(destination), egress_ports)
            if ports is None or ports:
                return Connection(source, destination, rule, peer, _opening(egress_rules, ports), ports)
        return None

    def _egress(self, source: Group, destination: Group) -> list[tuple[PolicyRule, PortSet]]:
        """The source's egress rules that admit ``destination``, with the ports each opens to it."""
        out = []
        for rule in source.egress or ():
            if not rule.reaches_namespace(destination.namespace):
                continue
            admitted = self.admitted(rule)
            if admitted is not None and destination.index not in admitted:
                continue
            ports = rule.port_set(destination)
            if ports is None or ports:
                out.append((rule, ports))
        return out


def _opening(egress_rules: list[tuple[PolicyRule, PortSet]], ports: PortSet) -> PolicyRule | None:
    """The first egress rule that opens some of ``ports`` (None when egress is not isolated)."""
    for rule, opened in egress_rules:
        used = intersect(opened, ports)
        if used is None or used:
            return rule
    return None


def union(port_sets: Iterable[PortSet]) -> PortSet:
    ranges: set[tuple[str, int, int]] = set()
    for ports in port_sets:
        if ports is None:
            return ALL_PORTS
        ranges.update(ports)
    return frozenset(ranges)


def intersect(a: PortSet, b: PortSet) -> PortSet:
    if a is None:
        return b
    if b is None:
        return a
    out = set()
    for proto, lo, hi in a:
        for other_proto, other_lo, other_hi in b:
            if proto == other_proto and lo <= other_hi and other_lo <= hi:
                out.add((proto, max(lo, other_lo), min(hi, other_hi)))
    return frozenset(out)


def describe_ports(ports: PortSet) -> str:
    if ports is None:
        return "any port"
    parts = [f"{proto}/{lo}" if lo == hi else f"{proto}/{lo}-{hi}" for proto, lo, hi in sorted(ports)]
    return ", ".join(parts[:3]) + (f" (+{len(parts) - 3} more)" if len(parts) > 3 else "")


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _labels(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in _as_dict(value).items()}


# A label selector that the API server would reject: it matches nothing (selector_matches fails unknown operators).
MATCHES_NOTHING: dict[str, Any] = {"matchExpressions": [{"key": "", "operator": "(invalid selector)"}]}


def _selector(value: Any) -> dict[str, Any]:
    """A well-formed LabelSelector ({} matches everything), or MATCHES_NOTHING for a malformed one."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        return MATCHES_NOTHING
    labels, expressions = value.get("matchLabels"), value.get("matchExpressions")
    if labels is not None and not isinstance(labels, dict):
        return MATCHES_NOTHING
    if expressions is not None and not (isinstance(expressions, list) and all(
            isinstance(e, dict) and isinstance(e.get("values") or [], list) for e in expressions)):
        return MATCHES_NOTHING
    return value


def _container_ports(spec: dict[str, Any]) -> tuple[tuple[str, int, str], ...]:
    ports = set()
    for container in [*_as_list(spec.get("containers")), *_as_list(spec.get("initContainers"))]:
        for port in _as_list(_as_dict(container).get("ports")):
            port = _as_dict(port)
            number = port.get("containerPort")
            if port.get("name") and isinstance(number, int) and not isinstance(number, bool):
                ports.add((str(port["name"]), number, str(port.get("protocol") or "TCP")))
    return tuple(sorted(ports))


def workloads(resources: Iterable[Resource]) -> list[Workload]:
    """Objects with a pod template, except objects a workload controller manages (their owner stands for them)."""
    out = []
    for res in resources:
        kind = workload_kind(group_of(res.api_version), res.kind)
        if kind is None or not kind.runs_pods or res.parent is not None or workload_controller(res.obj):
            continue
        template_path = kind.template
        template = value_at(res.obj, template_path)
        if not isinstance(template, dict) or not isinstance(template.get("spec"), dict):
            continue  # e.g. an Argo Rollout with spec.workloadRef
        labels = _labels(_as_dict(template.get("metadata")).get("labels"))
        out.append(Workload(resource=res, namespace=res.namespace or "default", labels=labels,
                            template_path=template_path, ports=_container_ports(template["spec"]),
                            identity=res.identity))
    return sorted(out, key=lambda w: w.sort_key)


def environment(namespace: str, labels: dict[str, str]) -> str | None:
    """The namespace's `environment` / `app.kubernetes.io/environment` label, else its name's suffix."""
    for key in ENVIRONMENT_LABELS:
        value = labels.get(key, "").strip().lower()
        if value:
            return _ENV_ALIASES.get(value, value)
    match = _ENV_SUFFIX.search(namespace)
    return _ENV_ALIASES.get(match.group(1), match.group(1)) if match else None


def _policy_types(spec: dict[str, Any]) -> set[str]:
    given = [t for t in _as_list(spec.get("policyTypes")) if isinstance(t, str)]
    if given:
        return set(given)
    return {"Ingress", "Egress"} if _as_list(spec.get("egress")) else {"Ingress"}


def _ports(rule: dict[str, Any]) -> tuple[tuple[str, int | str, int], ...] | None:
    entries = [_as_dict(p) for p in _as_list(rule.get("ports"))]
    if not entries:
        return None
    out: list[tuple[str, int | str, int]] = []
    for entry in entries:
        protocol = str(entry.get("protocol") or "TCP")
        port = entry.get("port")
        if port is None:
            out.append((protocol, 1, 65535))
        elif isinstance(port, int) and not isinstance(port, bool):
            end = entry.get("endPort")
            out.append((protocol, port, end if isinstance(end, int) and not isinstance(end, bool) else port))
        elif isinstance(port, str) and port.isdigit():
            out.append((protocol, int(port), int(port)))
        else:
            out.append((protocol, str(port), 0))
    return tuple(out)


def _peers(entries: list[Any], own_namespace: str, namespace_labels: dict[str, dict[str, str]],
           cache: dict[str, frozenset[str]]) -> tuple[Peer, ...]:
    peers = []
    for index, entry in enumerate(entries):
        entry = _as_dict(entry)
        if "namespaceSelector" in entry and entry["namespaceSelector"] is not None:
            selector = _selector(entry["namespaceSelector"])
            key = repr(selector)
            if key not in cache:
                cache[key] = frozenset(ns for ns, labels in namespace_labels.items()
                                       if selector_matches(selector, labels))
            namespaces: frozenset[str] | None = cache[key]
        elif "podSelector" in entry and entry["podSelector"] is not None:
            namespaces = frozenset((own_namespace,))
        else:
            namespaces = None  # ipBlock (or an empty peer, which the API rejects): no workload
        pod_selector = _selector(entry.get("podSelector"))
        peers.append(Peer(index=index, namespaces=namespaces, pod_selector=pod_selector or None))
    return tuple(peers)


def _policy_rules(policy: Resource, namespace_labels: dict[str, dict[str, str]],
                  cache: dict[str, frozenset[str]]) -> dict[str, list[PolicyRule]]:
    spec = _as_dict(policy.obj.get("spec"))
    namespace = policy.namespace or "default"
    types = _policy_types(spec)
    out: dict[str, list[PolicyRule]] = {}
    for direction, type_name, peers_key in (("ingress", "Ingress", "from"), ("egress", "Egress", "to")):
        if type_name not in types:
            continue
        rules = []
        for index, rule in enumerate(_as_list(spec.get(direction))):
            rule = _as_dict(rule)
            entries = _as_list(rule.get(peers_key))
            peers = _peers(entries, namespace, namespace_labels, cache) if entries else None
            rules.append(PolicyRule(policy=policy, direction=direction, index=index, peers=peers,
                                    ports=_ports(rule)))
        out[direction] = rules
    return out


def build_graph(resources: Sequence[Resource]) -> Graph:
    """Group the workloads and attach to each group the ingress/egress rules of the policies that select it."""
    found = workloads(resources)
    namespace_labels: dict[str, dict[str, str]] = {}
    for res in resources:
        if res.kind == "Namespace" and res.api_version == "v1" and res.name:
            namespace_labels[res.name] = {**_labels(res.metadata.get("labels")), NAMESPACE_NAME_LABEL: res.name}
    policies = sorted((r for r in resources if r.kind == "NetworkPolicy"
                       and group_of(r.api_version) == "networking.k8s.io"),
                      key=lambda r: (r.namespace or "default", r.name))
    for name in {w.namespace for w in found} | {p.namespace or "default" for p in policies}:
        namespace_labels.setdefault(name, {NAMESPACE_NAME_LABEL: name})
    groups: dict[tuple[Any, ...], Group] = {}
    for workload in found:
        label_key = tuple(sorted(workload.labels.items()))
        key = (workload.namespace, label_key, workload.ports)
        group = groups.get(key)
        if group is None:
            group = groups[key] = Group(index=len(groups), namespace=workload.namespace, labels=workload.labels,
                                        label_key=label_key, ports=workload.ports)
        group.members.append(workload)
    by_namespace: dict[str, list[Group]] = {}
    for group in groups.values():
        by_namespace.setdefault(group.namespace, []).append(group)
    cache: dict[str, frozenset[str]] = {}
    for policy in policies:
        namespace = policy.namespace or "default"
        selector = _selector(_as_dict(policy.obj.get("spec")).get("podSelector"))
        selected = [g for g in by_namespace.get(namespace, ()) if selector_matches(selector, g.labels)]
        if not selected:
            continue
        rules = _policy_rules(policy, namespace_labels, cache)
        for group in selected:
            for direction, direction_rules in rules.items():
                current = getattr(group, direction)
                setattr(group, direction, [*(current or ()), *direction_rules])
    ordered = list(groups.values())  # workloads are sorted, so groups are in the order of their first member
    return Graph(groups=ordered, by_namespace=by_namespace, namespace_labels=namespace_labels)


def _candidate_sources(destination: Group, graph: Graph) -> list[tuple[str, list[Group]]]:
    """(namespace, groups) the destination's ingress may admit, in graph order (all when it is not isolated)."""
    everything = list(graph.by_namespace.items())
    if destination.ingress is None:
        return everything
    indexes: set[int] = set()
    for rule in destination.ingress:
        admitted = graph.admitted_positions(rule)
        if admitted is None:
            return everything
        indexes.update(admitted)
    blocks: dict[str, list[Group]] = {}
    for index in sorted(indexes):
        group = graph.groups[index]
        blocks.setdefault(group.namespace, []).append(group)
    return list(blocks.items())


def cross_environment_connections(graph: Graph) -> list[Connection]:
    """For each destination group, one connection per other source environment (the first source in order)."""
    env_of = {ns: environment(ns, labels) for ns, labels in graph.namespace_labels.items()}
    candidates: dict[tuple[int, ...] | None, list[tuple[str, list[Group]]]] = {}
    out = []
    for destination in graph.groups:
        own = env_of.get(destination.namespace)
        if not own:
            continue
        # destinations admitted by the same lists of peers share their candidates (positions dicts live in graph)
        key = None if destination.ingress is None else tuple(id(graph.admitted_positions(rule))
                                                             for rule in destination.ingress)
        if key not in candidates:
            candidates[key] = _candidate_sources(destination, graph)
        found: set[str] = set()
        for namespace, sources in candidates[key]:
            env = env_of.get(namespace)
            if not env or env == own or env in found:
                continue
            for source in sources:
                if source.egress is not None and not any(r.reaches_namespace(destination.namespace)
                                                         for r in source.egress):
                    continue
                hit = graph.connection(source, destination)
                if hit is not None:
                    found.add(env)
                    out.append(hit)
                    break
    return out



def _rule_path(rule: PolicyRule, peer: Peer | None) -> FieldPath:
    return (*rule.field_path, "from" if rule.direction == "ingress" else "to", peer.index) if peer else rule.field_path


def _findings(connection: Connection, env_of: dict[str, str | None],
              sources: dict[int, RelatedLocation]) -> list[Finding]:
    rule = CROSS_ENVIRONMENT
    source = connection.source.example
    source_env = env_of[source.namespace] or ""
    dest_env = env_of[connection.destination.namespace] or ""
    example = f"{source.identity.display()} ({source_env})"
    ports = describe_ports(connection.ports)
    if connection.source.index not in sources:
        sources[connection.source.index] = RelatedLocation(
            resource=source.identity, location=source.resource.location(source.template_path),
            message=f"the source, in environment {source_env}")
    related = [sources[connection.source.index]]
    ingress = connection.ingress_rule
    if ingress is not None:
        blamed = ingress.policy.location(_rule_path(ingress, connection.ingress_peer))
        related.append(RelatedLocation(resource=ingress.policy.identity, location=blamed,
                                       message=f"ingress rule {ingress.index + 1} admits the source"))
    egress = connection.egress_rule
    if egress is not None:
        related.append(RelatedLocation(resource=egress.policy.identity,
                                       location=egress.policy.location(egress.field_path),
                                       message=f"egress rule {egress.index + 1} lets the source out"))
    out = []
    for destination in connection.destination.members:
        ident = destination.identity
        target = f"{ident.display()} ({dest_env})"
        if ingress is None:
            location = destination.resource.location(destination.template_path)
            message = (f"{target} is not isolated for ingress: workloads of environment {source_env} can connect "
                       f"to it on {ports}, e.g. {example}")
        else:
            location = blamed
            policy = ingress.policy.identity
            message = (f"{target} can be reached from environment {source_env} on {ports}, e.g. {example}: "
                       f"admitted by ingress rule {ingress.index + 1} of NetworkPolicy "
                       f"{policy.namespace}/{policy.name}")
        out.append(Finding(
            rule_id=rule.id, severity=rule.severity, category=rule.category, tags=rule.tags, message=message,
            # the field path is the destination's only when the location is (a blamed policy is another object)
            resource=ident, location=location, field_path=destination.template_path if ingress is None else (),
            remediation=rule.remediation, related=tuple(related),
            # one finding per (destination, source environment), whatever the example or the blamed line
            fingerprint=fingerprint(f"{rule.id}/{source_env}", ident, destination.template_path or ("spec",), "",
                                    destination.resource.path),
            occurrence=destination.resource.occurrence,
        ))
    return out


def analyse(resources: Sequence[Resource], context: object = None) -> tuple[list[Finding], list[Rule]]:
    """Cross-environment reachability findings over ``resources`` and the rules this analysis reports."""
    graph = build_graph(resources)
    env_of = {ns: environment(ns, labels) for ns, labels in graph.namespace_labels.items()}
    sources: dict[int, RelatedLocation] = {}
    findings = [finding for connection in cross_environment_connections(graph)
                for finding in _findings(connection, env_of, sources)]
    return sorted(findings, key=lambda f: f.sort_key()), list(RULES)
