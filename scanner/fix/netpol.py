"""Segmentation: NetworkPolicies for a namespace without default-deny: the deny itself, DNS egress to kube-dns,
and allow rules for the ports its Services declare (ingress to the selected pods, egress between the namespace's
own pods and those Services)."""

from __future__ import annotations

import re
from typing import Any

from scanner.model import Resource

DENY_RULES = {"seg-namespace-default-deny-ingress": "Ingress", "seg-namespace-default-deny-egress": "Egress"}
NAMESPACE_LABEL = "kubernetes.io/metadata.name"


PREFIX = "kguard-"  # generated names never collide with the namespace's own policies


def _policy(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": PREFIX + name, "namespace": namespace}, "spec": spec}


def _service_ports(service: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for port in (service.get("spec") or {}).get("ports") or []:
        if not isinstance(port, dict):
            continue
        target = port.get("targetPort", port.get("port"))
        if target is None:
            continue
        out.append({"protocol": str(port.get("protocol") or "TCP"), "port": target})
    return out


def services_in(namespace: str, resources: list[Resource]) -> list[Resource]:
    """The namespace's Services that select pods (not ExternalName, not selector-less)."""
    return sorted((r for r in resources if r.kind == "Service" and r.api_version == "v1" and r.namespace == namespace
                   and isinstance((r.obj.get("spec") or {}).get("selector"), dict)
                   and (r.obj.get("spec") or {}).get("selector")), key=lambda r: r.name)


def network_policies(namespace: str, directions: set[str], resources: list[Resource]) -> list[dict[str, Any]]:
    """Default-deny for ``directions`` ("Ingress", "Egress") and the allow rules that keep declared traffic."""
    order = [d for d in ("Ingress", "Egress") if d in directions]
    if not order:
        return []
    out = [_policy("default-deny", namespace, {"podSelector": {}, "policyTypes": order})]
    services = services_in(namespace, resources)
    if "Egress" in directions:
        dns = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
        out.append(_policy("allow-dns-egress", namespace, {
            "podSelector": {}, "policyTypes": ["Egress"],
            "egress": [{"to": [{"namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: "kube-system"}},
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}], "ports": dns}]}))
    for service in {s.name: s for s in services}.values():
        selector = dict(service.obj["spec"]["selector"])
        ports = _service_ports(service.obj)
        if not ports:
            continue
        slug = re.sub(r"[^a-z0-9-]+", "-", service.name.lower()).strip("-")
        if "Ingress" in directions:
            # the declared ports, from the namespace's own pods; callers from elsewhere need a rule of their own
            out.append(_policy(f"allow-{slug}-ingress", namespace, {
                "podSelector": {"matchLabels": selector}, "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": {}}], "ports": ports}]}))
        if "Egress" in directions:
            out.append(_policy(f"allow-{slug}-egress", namespace, {
                "podSelector": {}, "policyTypes": ["Egress"],
                "egress": [{"to": [{"podSelector": {"matchLabels": selector}}], "ports": ports}]}))
    out += _declared_elsewhere(namespace, directions, resources)
    return out


def _labels_of(namespace: str, resources: list[Resource]) -> dict[str, str]:
    labels = {NAMESPACE_LABEL: namespace}
    for r in resources:
        if r.kind == "Namespace" and r.name == namespace:
            labels |= {str(k): str(v) for k, v in (r.metadata.get("labels") or {}).items()}
    return labels


def selects(selector: Any, labels: dict[str, str]) -> bool:
    """Does a non-empty label selector select ``labels``? (An empty one selects everything: not a declaration
    about this namespace, so it counts as no.)"""
    if not isinstance(selector, dict) or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        return False
    if any(labels.get(str(k)) != str(v) for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = str(expr.get("key")), expr.get("operator"), [str(v) for v in expr.get("values") or []]
        present = key in labels
        ok = {"In": present and labels.get(key) in values, "NotIn": not present or labels.get(key) not in values,
              "Exists": present, "DoesNotExist": not present}.get(op, False)
        if not ok:
            return False
    return True


def _declared_elsewhere(namespace: str, directions: set[str], resources: list[Resource]) -> list[dict[str, Any]]:
    """Traffic other namespaces' policies already declare with this one: their egress to it becomes its ingress
    rule, their ingress from it its egress rule (same ports, same pods)."""
    labels = _labels_of(namespace, resources)
    out = []
    policies = sorted((r for r in resources if r.kind == "NetworkPolicy" and r.namespace and r.namespace != namespace),
                      key=lambda r: (r.namespace or "", r.name))
    for policy in policies:
        spec = policy.obj.get("spec") or {}
        theirs = {"namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: policy.namespace}},
                  "podSelector": spec.get("podSelector") or {}}
        slug = re.sub(r"[^a-z0-9-]+", "-", f"{policy.namespace}-{policy.name}".lower()).strip("-")
        for direction, rules_key, peers_key, ours_key in (("Ingress", "egress", "to", "from"),
                                                          ("Egress", "ingress", "from", "to")):
            if direction not in directions:
                continue
            rules = []
            for rule in spec.get(rules_key) or []:
                for peer in (rule.get(peers_key) or []) if isinstance(rule, dict) else []:
                    if isinstance(peer, dict) and selects(peer.get("namespaceSelector"), labels):
                        entry: dict[str, Any] = {ours_key: [theirs]}
                        if rule.get("ports"):
                            entry["ports"] = rule["ports"]
                        rules.append((peer.get("podSelector") or {}, entry))
            for i, (pods, entry) in enumerate(rules):
                name = f"allow-{'from' if direction == 'Ingress' else 'to'}-{slug}" + (f"-{i + 1}" if i else "")
                out.append(_policy(name[:63 - len(PREFIX)].rstrip("-"), namespace, {
                    "podSelector": pods, "policyTypes": [direction], direction.lower(): [entry]}))
    return out
