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
    return out
