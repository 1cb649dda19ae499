"""Gate (c): structural properties of the rendered overlays that a regression would break."""

from __future__ import annotations

import json

import pytest

from tests.manifests.manifest_checks import (
    DATABASES,
    ENVIRONMENTS,
    SERVICES,
    Obj,
    allow_all_problems,
    availability_problems,
    default_deny_problems,
    dig,
    effective_paths,
    find,
    hardening_problems,
    image_problems,
    network_edges,
    of_kind,
    operability_problems,
    pod_specs,
    reference_problems,
)

pytestmark = pytest.mark.integration

PROMETHEUS = "monitoring/prometheus"
TEMPO = "monitoring/tempo"
INGRESS = "ingress-nginx/ingress-nginx"
DNS = "kube-system/kube-dns"

# The architecture: frontend -> api-gateway -> user/product/order services -> their own database.
SERVICE_GRAPH = {
    ("frontend", "api-gateway", "http/TCP"),
    *{("api-gateway", backend, "http/TCP") for backend in DATABASES},
    *{(backend, db, "tcp-postgres/TCP") for backend, db in DATABASES.items()},
}
EXPECTED_INGRESS = SERVICE_GRAPH | {
    (INGRESS, "frontend", "http/TCP"),
    (INGRESS, "api-gateway", "http/TCP"),
    *{(PROMETHEUS, service, "http-metrics/TCP") for service in SERVICES},
}
EXPECTED_EGRESS = SERVICE_GRAPH | {
    ("*", DNS, "53/UDP"),
    ("*", DNS, "53/TCP"),
    *{(service, TEMPO, "4317/TCP") for service in SERVICES},
}


def namespace_of(objs: list[Obj]) -> str:
    (ns,) = of_kind(objs, "Namespace")
    return ns["metadata"]["name"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_namespace_has_default_deny(rendered_overlays: dict[str, list[Obj]], env: str) -> None:
    assert default_deny_problems(rendered_overlays[env]) == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_network_paths_are_exactly_the_architecture(rendered_overlays: dict[str, list[Obj]], env: str) -> None:
    objs = rendered_overlays[env]
    ingress, egress = network_edges(objs, namespace_of(objs))
    assert ingress == EXPECTED_INGRESS
    assert egress == EXPECTED_EGRESS
    assert effective_paths(objs, namespace_of(objs)) == SERVICE_GRAPH


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_allow_all_network_rule(rendered_overlays: dict[str, list[Obj]], env: str) -> None:
    assert allow_all_problems(rendered_overlays[env]) == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_workload_is_selected_by_a_network_policy(rendered_overlays: dict[str, list[Obj]], env: str) -> None:
    objs = rendered_overlays[env]
    ingress, _ = network_edges(objs, namespace_of(objs))
    receivers = {dest for _, dest, _ in ingress}
    for workload, _ in pod_specs(objs):
        assert workload["metadata"]["name"] in receivers, f"{workload['metadata']['name']} accepts no traffic"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_pod_security_labels(rendered_overlays: dict[str, list[Obj]], env: str) -> None:
    (ns,) = of_kind(rendered_overlays[env], "Namespace")
    labels = ns["metadata"]["labels"]
    assert ns["metadata"]["name"] == f"shop-{env}"
    expected_enforce = "baseline" if env == "development" else "restricted"
    assert labels["pod-security.kubernetes.io/enforce"] == expected_enforce
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert labels["pod-security.kubernetes.io/audit"] == "restricted"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_pods_are_hardened(rendered_overlays: dict[str, list[Obj]], env: str) -> None:
    objs = rendered_overlays[env]
    assert len(list(pod_specs(objs))) == len(SERVICES) + len(DATABASES)
    assert hardening_problems(objs) == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_images_are_pinned_by_tag_and_digest(rendered_overlays: dict[str, list[Obj]], env: str) -> None:
    assert image_problems(rendered_overlays[env]) == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_workloads_have_probes_resources_named_ports_and_labels(
        rendered_overlays: dict[str, list[Obj]], env: str) -> None:
    assert operability_problems(rendered_overlays[env]) == []


@pytest.mark.parametrize(("env", "minimum"), [("development", 1), ("staging", 2), ("production", 2)])
def test_replicas_hpa_and_pdb(rendered_overlays: dict[str, list[Obj]], env: str, minimum: int) -> None:
    assert availability_problems(rendered_overlays[env], minimum) == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_databases_are_statefulsets_with_storage_and_vault_secrets(
        rendered_overlays: dict[str, list[Obj]], env: str) -> None:
    objs = rendered_overlays[env]
    for db in DATABASES.values():
        sts = find(objs, "StatefulSet", db)
        assert sts is not None
        assert sts["spec"]["serviceName"] == db
        headless = find(objs, "Service", db)
        assert headless is not None and headless["spec"]["clusterIP"] == "None"
        (claim,) = sts["spec"]["volumeClaimTemplates"]
        assert claim["spec"]["storageClassName"] == "shop-ssd"
        secret = find(objs, "ExternalSecret", f"{db}-credentials")
        assert secret is not None
        assert secret["spec"]["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": f"vault-shop-{env}"}
    assert not of_kind(objs, "Secret"), "secrets must come from Vault, not from Git"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_workload_service_accounts_have_no_permissions(rendered_overlays: dict[str, list[Obj]], env: str) -> None:
    objs = rendered_overlays[env]
    bound = [s for b in of_kind(objs, "RoleBinding", "ClusterRoleBinding") for s in b.get("subjects") or []
             if s["kind"] == "ServiceAccount"]
    assert bound == []
    for workload, spec in pod_specs(objs):
        account = spec.get("serviceAccountName")
        assert account == workload["metadata"]["name"], f"{workload['metadata']['name']} uses {account}"
        sa = find(objs, "ServiceAccount", account)
        assert sa is not None and sa.get("automountServiceAccountToken") is False
    default = find(objs, "ServiceAccount", "default")
    assert default is not None and default["automountServiceAccountToken"] is False


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_feature_flags_are_runtime_configuration(rendered_overlays: dict[str, list[Obj]], env: str) -> None:
    objs = rendered_overlays[env]
    flags = find(objs, "ConfigMap", "feature-flags")
    assert flags is not None, "feature-flags ConfigMap must keep its name (no hash) so edits need no rollout"
    assert "flags" in json.loads(flags["data"]["flags.flagd.json"])
    for service in SERVICES:
        workload = find(objs, "Deployment", service) or find(objs, "Rollout", service)
        spec = dig(workload, ["spec", "template", "spec"])
        volume = next(v for v in spec["volumes"] if v.get("configMap", {}).get("name") == "feature-flags")
        mounts = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] == volume["name"]]
        assert mounts and "subPath" not in mounts[0], f"{service}: flags must be a directory mount to live-update"


def test_development_keeps_plain_deployments(rendered_overlays: dict[str, list[Obj]]) -> None:
    objs = rendered_overlays["development"]
    assert not of_kind(objs, "Rollout", "AnalysisTemplate")
    assert {d["metadata"]["name"] for d in of_kind(objs, "Deployment")} == set(SERVICES)


@pytest.mark.parametrize("env", ["staging", "production"])
def test_progressive_delivery(rendered_overlays: dict[str, list[Obj]], env: str) -> None:
    objs = rendered_overlays[env]
    templates = {t["metadata"]["name"] for t in of_kind(objs, "AnalysisTemplate")}
    for name in ("frontend", "api-gateway"):
        rollout = find(objs, "Rollout", name)
        assert rollout is not None and find(objs, "Deployment", name) is None
        canary = rollout["spec"]["strategy"]["canary"]
        assert find(objs, "Service", canary["canaryService"]) is not None
        assert find(objs, "Service", canary["stableService"]) is not None
        assert find(objs, "Ingress", canary["trafficRouting"]["nginx"]["stableIngress"]) is not None
        weights = [s["setWeight"] for s in canary["steps"] if "setWeight" in s]
        assert weights == sorted(weights) and len(weights) >= 3 and any("pause" in s for s in canary["steps"])
        assert {t["templateName"] for t in canary["analysis"]["templates"]} <= templates
    order = find(objs, "Rollout", "order-service")
    assert order is not None
    blue_green = order["spec"]["strategy"]["blueGreen"]
    assert find(objs, "Service", blue_green["previewService"]) is not None
    assert blue_green["autoPromotionEnabled"] is (env != "production")
    assert {t["templateName"] for t in blue_green["prePromotionAnalysis"]["templates"]} <= templates
    for template in of_kind(objs, "AnalysisTemplate"):
        for metric in template["spec"]["metrics"]:
            assert "prometheus" in metric["provider"] and metric.get("failureLimit") is not None


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_ingress_and_certificate_per_environment(rendered_overlays: dict[str, list[Obj]], env: str) -> None:
    objs = rendered_overlays[env]
    host = {"development": "shop.dev.example.com", "staging": "shop.staging.example.com",
            "production": "shop.example.com"}[env]
    cert = find(objs, "Certificate", "shop-tls")
    assert cert is not None and cert["spec"]["dnsNames"] == [host]
    assert cert["spec"]["issuerRef"]["kind"] == "ClusterIssuer"
    for ingress in of_kind(objs, "Ingress"):
        assert ingress["spec"]["ingressClassName"] == "nginx"
        assert [r["host"] for r in ingress["spec"]["rules"]] == [host]
        assert ingress["spec"]["tls"] == [{"hosts": [host], "secretName": cert["spec"]["secretName"]}]
    quota = find(objs, "ResourceQuota", "shop-quota")
    assert quota is not None and quota["spec"]["hard"]["services.loadbalancers"] == "0"
    assert find(objs, "LimitRange", "shop-limits") is not None


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_only_namespaced_objects_besides_the_namespace(rendered_overlays: dict[str, list[Obj]], env: str) -> None:
    """The Argo CD project `shop` allows no cluster-scoped kind but Namespace; everything else is namespaced."""
    for obj in rendered_overlays[env]:
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == f"shop-{env}", obj["kind"] + " " + obj["metadata"]["name"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_reference_resolves(rendered_overlays: dict[str, list[Obj]], env: str) -> None:
    assert reference_problems(rendered_overlays[env]) == []
