"""The structural checks catch what they claim to catch (fast, no kubectl)."""

from __future__ import annotations

import copy

import pytest

from tests.manifests.manifest_checks import (
    Obj,
    allow_all_problems,
    availability_problems,
    default_deny_problems,
    effective_paths,
    hardening_problems,
    image_problems,
    non_image_changes,
    operability_problems,
    reference_problems,
    rendered_diff,
    selector_matches,
)

DIGEST = "sha256:" + "ab" * 32


def deployment(name: str = "frontend", **pod: object) -> Obj:
    spec = {
        "serviceAccountName": name,
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": name,
            "image": f"registry.example.com/shop/{name}:1.0.0@{DIGEST}",
            "ports": [{"name": "http", "containerPort": 8080}],
            "startupProbe": {}, "livenessProbe": {}, "readinessProbe": {},
            "resources": {"requests": {"cpu": "1", "memory": "1"}, "limits": {"cpu": "1", "memory": "1"}},
            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]}},
        }],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    spec.update(pod)
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/version": "1.0.0", "app.kubernetes.io/part-of": "shop"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "shop"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                     "strategy": {"rollingUpdate": {"maxUnavailable": 0}},
                     "template": {"metadata": {"labels": labels}, "spec": spec}}}


def container(obj: Obj) -> Obj:
    return obj["spec"]["template"]["spec"]["containers"][0]


def test_hardened_deployment_passes() -> None:
    assert hardening_problems([deployment()]) == []
    assert image_problems([deployment()]) == []
    assert operability_problems([deployment()]) == []


@pytest.mark.parametrize("breakage", [
    lambda d: container(d)["securityContext"].update(allowPrivilegeEscalation=True),
    lambda d: container(d)["securityContext"].update(privileged=True),
    lambda d: container(d)["securityContext"].pop("readOnlyRootFilesystem"),
    lambda d: container(d)["securityContext"]["capabilities"].update(add=["NET_ADMIN"]),
    lambda d: container(d)["securityContext"].update(capabilities={"drop": ["NET_RAW"]}),
    lambda d: container(d)["ports"][0].update(hostPort=80),
    lambda d: d["spec"]["template"]["spec"].update(hostNetwork=True),
    lambda d: d["spec"]["template"]["spec"].update(automountServiceAccountToken=True),
    lambda d: d["spec"]["template"]["spec"]["securityContext"].update(runAsUser=0),
    lambda d: d["spec"]["template"]["spec"]["securityContext"].update(runAsUser="10001"),
    lambda d: d["spec"]["template"]["spec"]["securityContext"].pop("seccompProfile"),
    lambda d: d["spec"]["template"]["spec"]["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
], ids=["escalation", "privileged", "writable-root", "cap-add", "drop-not-all", "host-port", "host-network",
        "token", "root-user", "string-user", "no-seccomp", "host-path"])
def test_hardening_check_catches(breakage) -> None:
    broken = deployment()
    breakage(broken)
    assert hardening_problems([broken])


@pytest.mark.parametrize("image", [
    "registry.example.com/shop/frontend:1.0.0",
    f"registry.example.com/shop/frontend@{DIGEST}",
    f"registry.example.com/shop/frontend:latest@{DIGEST}",
    "registry.example.com/shop/frontend:1.0.0@sha256:abc",
])
def test_image_check_catches_unpinned(image: str) -> None:
    broken = deployment()
    container(broken)["image"] = image
    assert image_problems([broken])


def test_operability_check_catches_missing_probe_limit_label_and_port_name() -> None:
    broken = deployment()
    del container(broken)["readinessProbe"]
    del container(broken)["resources"]["limits"]["memory"]
    del container(broken)["ports"][0]["name"]
    del broken["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"]
    assert len(operability_problems([broken])) == 4


def hpa(name: str, minimum: int) -> Obj:
    return {"kind": "HorizontalPodAutoscaler", "metadata": {"name": name},
            "spec": {"minReplicas": minimum,
                     "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}}}


def pdb(name: str) -> Obj:
    return {"kind": "PodDisruptionBudget", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": name}}}}


SERVICES = ("frontend", "api-gateway", "user-service", "product-service", "order-service")


def test_availability_check() -> None:
    objs = [o for s in SERVICES for o in (deployment(s), hpa(s, 2), pdb(s))]
    assert availability_problems(objs, 2) == []
    fewer = copy.deepcopy(objs)
    fewer[0]["spec"]["replicas"] = 1
    assert availability_problems(fewer, 2)
    assert availability_problems([o for o in objs if o["kind"] != "PodDisruptionBudget"], 2)
    assert availability_problems([o for o in objs if o["kind"] != "HorizontalPodAutoscaler"], 2)
    surge = copy.deepcopy(objs)
    surge[0]["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = 1
    assert availability_problems(surge, 2)


def netpol(name: str, spec: Obj) -> Obj:
    return {"kind": "NetworkPolicy", "metadata": {"name": name, "namespace": "shop"}, "spec": spec}


NAMESPACE = {"kind": "Namespace", "metadata": {"name": "shop"}}
DENY = netpol("deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})


def test_default_deny_check() -> None:
    assert default_deny_problems([NAMESPACE, DENY]) == []
    assert default_deny_problems([NAMESPACE])
    ingress_only = netpol("deny", {"podSelector": {}, "policyTypes": ["Ingress"]})
    assert default_deny_problems([NAMESPACE, ingress_only])


@pytest.mark.parametrize("rule", [
    {"ports": [{"port": 80}]},
    {"from": [{}], "ports": [{"port": 80}]},
    {"from": [{"namespaceSelector": {}}], "ports": [{"port": 80}]},
    {"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 80}]},
    {"from": [{"podSelector": {"matchLabels": {"a": "b"}}}]},
])
def test_allow_all_check(rule: Obj) -> None:
    policy = netpol("open", {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [rule]})
    assert allow_all_problems([policy])


def test_effective_paths_need_both_sides() -> None:
    def by_name(name: str) -> Obj:
        return {"matchLabels": {"app.kubernetes.io/name": name}}
    egress = netpol("a", {"podSelector": by_name("a"), "policyTypes": ["Egress"],
                          "egress": [{"to": [{"podSelector": by_name("b")}], "ports": [{"port": "http"}]}]})
    ingress = netpol("b", {"podSelector": by_name("b"), "policyTypes": ["Ingress"],
                           "ingress": [{"from": [{"podSelector": by_name("a")}], "ports": [{"port": "http"}]}]})
    assert effective_paths([egress], "shop") == set()
    assert effective_paths([egress, ingress], "shop") == {("a", "b", "http/TCP")}


def test_selector_semantics() -> None:
    labels = {"app": "x", "tier": "web"}
    assert selector_matches({"matchLabels": {"app": "x"}}, labels)
    assert not selector_matches({"matchLabels": {"app": "y"}}, labels)
    assert selector_matches({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]}, labels)
    assert not selector_matches({"matchExpressions": [{"key": "zone", "operator": "Exists"}]}, labels)
    assert not selector_matches(None, labels)


def test_rendered_diff_separates_image_changes() -> None:
    before = [deployment()]
    after = copy.deepcopy(before)
    container(after[0])["image"] = f"registry.example.com/shop/frontend:0.9.0@{DIGEST}"
    changes = rendered_diff(before, after)
    assert len(changes) == 1 and non_image_changes(changes) == []
    after[0]["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] = "0.9.0"
    assert non_image_changes(rendered_diff(before, after))


def test_reference_check() -> None:
    service = {"kind": "Service", "metadata": {"name": "frontend"},
               "spec": {"selector": {"app.kubernetes.io/name": "frontend"},
                        "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}
    account = {"kind": "ServiceAccount", "metadata": {"name": "frontend"}}
    objs = [deployment(), service, account]
    assert reference_problems(objs) == []
    assert reference_problems([deployment(), service])  # no ServiceAccount
    wrong_port = copy.deepcopy(service)
    wrong_port["spec"]["ports"][0]["targetPort"] = "grpc"
    assert reference_problems([deployment(), wrong_port, account])
    orphan = copy.deepcopy(service)
    orphan["spec"]["selector"] = {"app.kubernetes.io/name": "other"}
    assert reference_problems([deployment(), orphan, account])
    with_config = deployment()
    container(with_config)["envFrom"] = [{"configMapRef": {"name": "missing"}}]
    assert reference_problems([with_config, service, account])
