"""The analyses' graph data: namespace-level edges of large reachability graphs, checked against their definition."""

from __future__ import annotations

import random
from typing import Any

import pytest

from scanner.analysis import graphs, reachability
from tests.analysis.test_reachability import deployment, load, namespace, policy

ENVIRONMENTS = ("development", "staging", "production")


def pairwise_namespace_edges(graph: reachability.Graph, env_of: dict[str, str]) -> list[dict[str, Any]]:
    """The definition, tried the slow way: every ordered pair of namespaces, destinations in graph order, then
    sources in graph order; the first connection a source's egress and the destination's ingress allow."""
    out = []
    names = sorted(graph.by_namespace)
    for src_ns in names:
        for dst_ns in names:
            if src_ns == dst_ns:
                continue
            hit = next((c for d in graph.by_namespace[dst_ns] for s in graph.by_namespace[src_ns]
                        if s.index in {g.index for g in graphs._sources(graph, d)}
                        and (s.egress is None or any(r.reaches_namespace(dst_ns) for r in s.egress))
                        and (c := graph.connection(s, d)) is not None), None)
            if hit is not None:
                src_env, dst_env = env_of.get(src_ns, ""), env_of.get(dst_ns, "")
                out.append({"source": src_ns, "destination": dst_ns, "ports": reachability.describe_ports(hit.ports),
                            "cross_environment": bool(src_env and dst_env and src_env != dst_env)})
    return out


def random_cluster(rng: random.Random) -> list[dict[str, Any]]:
    """Namespaces with workloads of a few labels and ports, and NetworkPolicies of every shape the graph reads:
    default deny, ingress from namespaces or pods, egress to some namespaces only, port lists."""
    names = [f"ns-{i}" for i in range(rng.randint(2, 7))]
    docs: list[dict[str, Any]] = [namespace(n, environment=rng.choice(ENVIRONMENTS), team=rng.choice("ab"))
                                  for n in names]
    for ns in names:
        for w in range(rng.randint(0, 4)):
            labels = {"app": rng.choice(("web", "api", "db")), "tier": rng.choice(("front", "back"))}
            ports = rng.choice((None, {"http": 8080}, {"http": 8080, "metrics": 9090}))
            docs.append(deployment(f"w{w}", ns, labels, ports))
        for p in range(rng.randint(0, 3)):
            selector = rng.choice(({}, {"matchLabels": {"app": rng.choice(("web", "api", "db"))}}))
            peer = rng.choice((
                {"namespaceSelector": {}},
                {"namespaceSelector": {"matchLabels": {"team": rng.choice("ab")}}},
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": rng.choice(names)}}},
                {"podSelector": {"matchLabels": {"tier": rng.choice(("front", "back"))}}},
            ))
            rule = {"from": [peer]} if rng.random() < 0.8 else {}
            if rng.random() < 0.5:
                rule["ports"] = [{"port": rng.choice((8080, 9090, "http"))}]
            types = rng.choice((["Ingress"], ["Egress"], ["Ingress", "Egress"]))
            ingress = [rule] if "Ingress" in types and rng.random() < 0.7 else []
            egress = []
            if "Egress" in types and rng.random() < 0.7:
                to = rng.choice(([{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name":
                                                                         rng.choice(names)}}}], None))
                egress = [{"to": to} if to else {}]
                if rng.random() < 0.6:  # sources of one namespace reach a destination on different ports
                    egress[0]["ports"] = [{"port": port} for port in rng.sample((8080, 9090, 443), rng.randint(1, 2))]
            docs.append(policy(f"p{p}", ns, selector, types, ingress, egress))
    return docs


@pytest.mark.parametrize("seed", range(60))
def test_namespace_edges_are_the_first_connection_of_every_namespace_pair(seed: int) -> None:
    graph = reachability.build_graph(load(*random_cluster(random.Random(seed))))
    env_of = {ns: reachability.environment(ns, labels) or "" for ns, labels in graph.namespace_labels.items()}
    assert graphs._namespace_edges(graph, env_of) == pairwise_namespace_edges(graph, env_of)


def test_the_random_clusters_connect_some_namespace_pairs_and_not_others() -> None:
    """The generator is worth checking against: across seeds, namespaces connect, some pairs do not, and ports
    differ between the pairs that do."""
    connected, unconnected, ports = 0, 0, set()
    for seed in range(60):
        graph = reachability.build_graph(load(*random_cluster(random.Random(seed))))
        edges = pairwise_namespace_edges(graph, {})
        pairs = len(graph.by_namespace) * (len(graph.by_namespace) - 1)
        connected += len(edges)
        unconnected += pairs - len(edges)
        ports |= {e["ports"] for e in edges}
    assert connected > 50 and unconnected > 50 and len(ports) >= 3
