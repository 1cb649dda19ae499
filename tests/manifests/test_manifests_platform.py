"""The platform around the shop: the kguard audit (namespace, read-only ClusterRole, CronJob), the Argo CD
app-of-apps, and the container image recipe."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.manifests.manifest_checks import (
    ENVIRONMENTS,
    MANIFESTS,
    REPO,
    Obj,
    allow_all_problems,
    default_deny_problems,
    find,
    hardening_problems,
    image_problems,
    of_kind,
)

AUDIT_RESOURCES = {
    "": {"namespaces", "pods", "podtemplates", "replicationcontrollers", "services", "serviceaccounts"},
    "apps": {"deployments", "statefulsets", "daemonsets", "replicasets"},
    "batch": {"jobs", "cronjobs"},
    "networking.k8s.io": {"networkpolicies"},
    "rbac.authorization.k8s.io": {"roles", "clusterroles", "rolebindings", "clusterrolebindings"},
    "argoproj.io": {"rollouts"},
    "templates.gatekeeper.sh": {"constrainttemplates"},
}


def catalogue_constraint_resources() -> set[str]:
    """Gatekeeper constraint resources (lower-case kinds) of every policy in policies/."""
    kinds = set()
    for metadata in (REPO / "policies").glob("*/*/metadata.yaml"):
        kinds.add(yaml.safe_load(metadata.read_text())["kind"].lower())
    return kinds


def audit_grants(role: Obj) -> dict[str, set[str]]:
    grants: dict[str, set[str]] = {}
    for rule in role["rules"]:
        assert set(rule["verbs"]) <= {"get", "list"}, rule
        assert "resourceNames" not in rule and "nonResourceURLs" not in rule
        for group in rule["apiGroups"]:
            grants.setdefault(group, set()).update(rule["resources"])
    return grants


@pytest.mark.integration
def test_audit_cluster_role_is_read_only_and_exact(rendered_kguard_system: list[Obj]) -> None:
    role = find(rendered_kguard_system, "ClusterRole", "kguard-auditor")
    assert role is not None
    grants = audit_grants(role)
    assert "*" not in grants and not any("*" in r for r in grants.values())
    constraints = grants.pop("constraints.gatekeeper.sh", set())
    assert grants == AUDIT_RESOURCES
    assert "secrets" not in {r for rs in grants.values() for r in rs}
    assert constraints == catalogue_constraint_resources(), (
        "manifests/kguard-system/rbac.yaml is out of sync with policies/: list the lower-cased `kind` of every "
        "policies/*/*/metadata.yaml under the constraints.gatekeeper.sh rule")


@pytest.mark.integration
def test_audit_binding_and_cronjob(rendered_kguard_system: list[Obj]) -> None:
    objs = rendered_kguard_system
    binding = find(objs, "ClusterRoleBinding", "kguard-auditor")
    assert binding is not None
    assert binding["roleRef"]["name"] == "kguard-auditor"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "kguard-auditor", "namespace": "kguard-system"}]
    cron = find(objs, "CronJob", "kguard-audit")
    assert cron is not None
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert re.fullmatch(r"\d+ \d+ \* \* \*", cron["spec"]["schedule"]), "runs once a night"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "kguard-auditor"
    assert pod["containers"][0]["command"] == ["/bin/sh", "-c"]
    assert "kguard audit --in-cluster --format json" in pod["containers"][0]["args"][0]
    assert hardening_problems(objs) == []
    assert image_problems(objs) == []


@pytest.mark.integration
def test_audit_namespace_is_locked_down(rendered_kguard_system: list[Obj]) -> None:
    objs = rendered_kguard_system
    (ns,) = of_kind(objs, "Namespace")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert default_deny_problems(objs) == []
    assert allow_all_problems(objs) == []
    assert all(not p["spec"].get("ingress") for p in of_kind(objs, "NetworkPolicy")), "nothing may connect in"


def app(objs: list[Obj], name: str) -> Obj:
    found = find(objs, "Application", name)
    assert found is not None, f"no Application {name}"
    return found


def wave(application: Obj) -> int:
    return int(application["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0"))


@pytest.mark.integration
def test_one_application_per_environment_with_its_sync_policy(rendered_argocd: list[Obj]) -> None:
    for env in ENVIRONMENTS:
        application = app(rendered_argocd, f"shop-{env}")
        assert application["spec"]["source"]["path"] == f"manifests/overlays/{env}"
        assert application["spec"]["destination"]["namespace"] == f"shop-{env}"
        automated = application["spec"].get("syncPolicy", {}).get("automated")
        if env == "production":
            assert automated is None, "production is promoted by a manual sync"
        else:
            assert automated == {"prune": True, "selfHeal": True}


@pytest.mark.integration
def test_gatekeeper_policies_precede_production(rendered_argocd: list[Obj]) -> None:
    policies = app(rendered_argocd, "gatekeeper-policies")
    assert policies["spec"]["source"]["path"] == "gatekeeper"
    assert wave(app(rendered_argocd, "gatekeeper")) < wave(policies) < wave(app(rendered_argocd, "shop-production"))


@pytest.mark.integration
def test_platform_components_and_paths_exist(rendered_argocd: list[Obj]) -> None:
    applications = of_kind(rendered_argocd, "Application")
    names = {a["metadata"]["name"] for a in applications}
    assert {"cert-manager", "external-secrets", "argo-rollouts", "gatekeeper", "ingress-nginx",
            "kube-prometheus-stack", "loki", "fluent-bit", "tempo", "monitoring-config", "platform-config",
            "kguard-audit"} <= names
    projects = {p["metadata"]["name"] for p in of_kind(rendered_argocd, "AppProject")}
    for application in applications:
        assert application["spec"]["project"] in projects
        for source in application["spec"].get("sources") or [application["spec"]["source"]]:
            if "chart" in source:
                assert re.fullmatch(r"v?\d+\.\d+\.\d+", source["targetRevision"]), "charts pinned to a version"
            elif "path" in source and source["path"] != "gatekeeper":
                assert (REPO / source["path"] / "kustomization.yaml").exists(), source["path"]
            for values in source.get("helm", {}).get("valueFiles", []):
                assert (REPO / values.removeprefix("$values/")).exists(), values
        # Operators come before the things that use their CRDs.
    assert wave(app(rendered_argocd, "platform-config")) > wave(app(rendered_argocd, "cert-manager"))
    assert wave(app(rendered_argocd, "kube-prometheus-stack")) < wave(app(rendered_argocd, "shop-development"))


DOCKERFILE = REPO / "docker" / "Dockerfile"


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    lines = [line for line in path.read_text().replace("\\\n", " ").splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "") for line in lines]


def test_dockerfile_is_pinned_and_non_root() -> None:
    instructions = dockerfile_instructions(DOCKERFILE)
    bases = [arg.split()[0] for op, arg in instructions if op == "FROM"]
    assert bases and all(re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", b) for b in bases)
    users = [arg for op, arg in instructions if op == "USER"]
    assert users and re.fullmatch(r"(\d+)(:\d+)?", users[-1]) and int(users[-1].split(":")[0]) >= 1000
    assert [op for op, _ in instructions].index("USER") > max(
        i for i, (op, _) in enumerate(instructions) if op == "RUN"), "nothing runs as root after USER"
    assert any(op == "RUN" and "pip install" in arg and "." in arg.split() for op, arg in instructions)


def test_cronjob_runs_the_image_user() -> None:
    cron = yaml.safe_load((MANIFESTS / "kguard-system" / "cronjob.yaml").read_text())
    user = [arg for op, arg in dockerfile_instructions(DOCKERFILE) if op == "USER"][-1]
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert str(pod["securityContext"]["runAsUser"]) == user.split(":")[0]


def test_nightly_audit_compares_with_the_previous_night_kept_on_its_own_volume() -> None:
    docs = list(yaml.safe_load_all((MANIFESTS / "kguard-system" / "cronjob.yaml").read_text()))
    (claim,) = yaml.safe_load_all((MANIFESTS / "kguard-system" / "reports.yaml").read_text())
    assert claim["kind"] == "PersistentVolumeClaim" and claim["metadata"]["namespace"] == "kguard-system"
    pod = docs[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["reports"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    (container,) = pod["containers"]
    assert {"name": "reports", "mountPath": "/reports"} in container["volumeMounts"]
    script = container["args"][0]
    assert "--compare /reports/last/kguard.json" in script and "--report-dir /reports/new" in script
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    syntax = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True, check=False)
    assert syntax.returncode == 0, syntax.stderr
