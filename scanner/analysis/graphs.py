"""The analyses' graphs as plain data for the reports to draw: who may connect to whom, and who can escalate to what.

`graph_data(resources)` returns ``{"reachability": ..., "rbac": ...}``, JSON-compatible, every list sorted, so the
same objects give the same data (reports must not import loaders or analyses; they get this through
`ScanResult.graphs`).

- ``reachability``: ``namespaces`` (name, environment), ``groups`` (workloads that NetworkPolicies see alike: one
  namespace, same pod labels and container ports; with whether any policy isolates them) and ``edges`` (every
  allowed connection between two groups, its ports and whether it crosses environments).
- ``rbac``: ``paths``, one per reported escalation: subject -> binding -> role -> the enabling permission -> the
  identity or role reached -> the most severe capability gained (and the binding that gives it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scanner.analysis import reachability
from scanner.analysis.rbac.capabilities import describe
from scanner.analysis.rbac.findings import escalations, path_severity
from scanner.analysis.rbac.graph import build_graph as build_rbac_graph
from scanner.model import Resource

MAX_GROUPS_WITH_EDGES = 300  # workload groups whose pairwise connections are listed; above: per namespace


def graph_data(resources: Sequence[Resource]) -> dict[str, Any]:
    """Both graphs of ``resources``."""
    return {"reachability": reachability_graph(resources), "rbac": rbac_graph(resources)}


def _group_id(group: reachability.Group) -> str:
    return f"g{group.index}"


def reachability_graph(resources: Sequence[Resource]) -> dict[str, Any]:
    """Namespaces, workload groups and every allowed group-to-group connection (a group to itself left out).

    Above `MAX_GROUPS_WITH_EDGES` groups (the pairs grow with the square), ``edges`` is empty and
    ``namespace_edges`` says instead which namespace reaches which (the first connection found, its ports, and
    whether any connection between the two crosses environments: they do when the namespaces' environments differ).
    """
    graph = reachability.build_graph(resources)
    env_of = {ns: reachability.environment(ns, labels) or "" for ns, labels in graph.namespace_labels.items()}
    groups = [{
        "id": _group_id(group),
        "namespace": group.namespace,
        "workloads": sorted(f"{m.resource.kind} {m.resource.name}" for m in group.members),
        "ingress_isolated": group.ingress is not None,
        "egress_isolated": group.egress is not None,
    } for group in graph.groups]
    used = {group.namespace for group in graph.groups}
    namespaces = [{"name": ns, "environment": env_of.get(ns, "")} for ns in sorted(used)]
    if len(graph.groups) > MAX_GROUPS_WITH_EDGES:
        return {"namespaces": namespaces, "groups": groups, "edges": [],
                "namespace_edges": _namespace_edges(graph, env_of)}
    edges = []
    for destination in graph.groups:
        for source in _sources(graph, destination):
            if source is destination:
                continue
            hit = graph.connection(source, destination)
            if hit is None:
                continue
            src_env, dst_env = env_of.get(source.namespace, ""), env_of.get(destination.namespace, "")
            edges.append({"source": _group_id(source), "destination": _group_id(destination),
                          "ports": reachability.describe_ports(hit.ports),
                          "cross_environment": bool(src_env and dst_env and src_env != dst_env)})
    edges.sort(key=lambda e: (int(e["source"][1:]), int(e["destination"][1:])))
    return {"namespaces": namespaces, "groups": groups, "edges": edges}


def _namespace_edges(graph: reachability.Graph, env_of: dict[str, str]) -> list[dict[str, Any]]:
    """For every ordered pair of namespaces, whether some workload of one may connect to some of the other: the
    first connection found, destinations of the pair in graph order, then sources in graph order.

    Each destination looks only at the source namespaces whose egress may reach its namespace and that are not yet
    connected to it (an open destination usually connects them all at once), and an isolated one only at the
    groups its ingress admits, instead of every pair of namespaces trying every pair of their groups.
    """
    reach = {group.index: group.egress_namespaces() for group in graph.groups}
    open_egress = {group.namespace for group in graph.groups if reach[group.index] is None}
    named_by: dict[str, set[str]] = {}  # namespace -> namespaces with a group whose egress names it
    for group in graph.groups:
        for ns in reach[group.index] or ():
            named_by.setdefault(ns, set()).add(group.namespace)
    found: dict[tuple[str, str], reachability.Connection] = {}
    for dst_ns, destinations in graph.by_namespace.items():
        remaining = (open_egress | named_by.get(dst_ns, set())) & graph.by_namespace.keys()
        remaining.discard(dst_ns)
        for destination in destinations:
            if not remaining:
                break
            admitted = _sources(graph, destination)
            if admitted is graph.groups:  # not isolated: any namespace may reach it, tried in turn
                tried = [group for ns in sorted(remaining) for group in graph.by_namespace[ns]]
            else:
                tried = [group for group in admitted if group.namespace in remaining]
            for source in tried:
                if source.namespace not in remaining:
                    continue  # connected by an earlier source of its namespace
                if (reached := reach[source.index]) is not None and dst_ns not in reached:
                    continue
                hit = graph.connection(source, destination)
                if hit is not None:
                    found[(source.namespace, dst_ns)] = hit
                    remaining.discard(source.namespace)
    out = []
    for (src_ns, dst_ns), hit in sorted(found.items(), key=lambda item: item[0]):
        src_env, dst_env = env_of.get(src_ns, ""), env_of.get(dst_ns, "")
        out.append({"source": src_ns, "destination": dst_ns, "ports": reachability.describe_ports(hit.ports),
                    "cross_environment": bool(src_env and dst_env and src_env != dst_env)})
    return out


def _sources(graph: reachability.Graph, destination: reachability.Group) -> list[reachability.Group]:
    """Groups the destination's ingress may admit, in graph order (every group when it is not isolated)."""
    if destination.ingress is None:
        return graph.groups
    indexes: set[int] = set()
    for rule in destination.ingress:
        admitted = graph.admitted_positions(rule)
        if admitted is None:
            return graph.groups
        indexes.update(admitted)
    return [graph.groups[i] for i in sorted(indexes)]


def rbac_graph(resources: Sequence[Resource]) -> dict[str, Any]:
    """Every escalation path the RBAC analysis reports, as the chain of objects it runs through."""
    paths = []
    for path, lost in escalations(build_rbac_graph(resources)):
        grant = path.grant
        top, top_grant = lost[0]
        paths.append({
            "rule": path.rule_id,
            "severity": path_severity(lost).label,
            "subject": grant.subject.display(),
            "binding": grant.via,
            "role": grant.rule.role_label,
            "permission": path.verb,
            "action": path.action,
            "target": path.target,
            "gains": describe(top),
            "gains_via": top_grant.via if top_grant is not None else "",
            "more": len(lost) - 1,
        })
    paths.sort(key=lambda p: (p["subject"], p["binding"], p["role"], p["target"], p["rule"], p["permission"]))
    return {"paths": paths}
