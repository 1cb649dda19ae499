"""`kguard audit` against a real kube-apiserver + etcd: findings, owners, coverage (real 403s), paging, drift."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from scanner.cluster.audit import Audit, AuditOptions, run_audit
from scanner.cluster.read import ReadOptions
from scanner.scan import ScanOptions
from tests.cluster.conftest import Kube, container, deployment, owner_ref

pytestmark = pytest.mark.cluster
TEMPLATES = str(Path(__file__).parent / "templates")
REPO = Path(__file__).resolve().parents[2]


def _audit(kubeconfig: Path, namespaces: list[str] | None = None, **options: Any) -> Audit:
    read = ReadOptions(namespaces=namespaces or (), page_size=options.pop("page_size", 500))
    scan = ScanOptions(template_dirs=[TEMPLATES], default_policies=False, **options.pop("scan", {}))
    return run_audit(AuditOptions(kubeconfig=str(kubeconfig), read=read, **options), scan)


def _seen(audit: Audit) -> list[tuple[str, str, str]]:
    return sorted((f.rule_id, f.resource.kind, f.resource.name) for f in audit.result.findings)


def _workload_with_pods(kube: Kube, ns: str, name: str, pods: int, privileged: bool = True) -> dict[str, Any]:
    """A Deployment, its ReplicaSet and Pods, linked by ownerReferences as the controllers would link them."""
    dep = kube.create(deployment(name, ns, privileged=privileged))
    template = copy.deepcopy(dep["spec"]["template"])
    template["metadata"]["labels"]["pod-template-hash"] = "7c9d"
    rs = kube.create({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
        "name": f"{name}-7c9d", "namespace": ns, "ownerReferences": [owner_ref(dep)]},
        "spec": {"selector": {"matchLabels": template["metadata"]["labels"]}, "template": template}})
    for i in range(pods):
        kube.create({"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": f"{name}-7c9d-{i}", "namespace": ns, "labels": template["metadata"]["labels"],
            "ownerReferences": [owner_ref(rs)]}, "spec": template["spec"]})
    return dep


def test_findings_reported_once_at_the_owning_workload(kube: Kube) -> None:
    ns = kube.namespace("owners")
    _workload_with_pods(kube, ns, "web", pods=3)
    _workload_with_pods(kube, ns, "clean", pods=2, privileged=False)
    kube.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "debug", "namespace": ns},
                 "spec": {"containers": [container(privileged=True)]}})
    kube.create({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                 "metadata": {"name": "open", "namespace": ns},
                 "spec": {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]}})

    audit = _audit(kube.plane.kubeconfig_admin, [ns])

    assert _seen(audit) == [("test-open-ingress", "NetworkPolicy", "open"),
                            ("test-privileged", "Deployment", "web"), ("test-privileged", "Pod", "debug")]
    assert audit.raw_counts["K8sTestPrivileged/test-privileged"] == 2  # web + debug: RS and its pods not re-evaluated
    assert audit.derived == 1 + 3 + 1 + 2  # ReplicaSets and Pods of web and clean
    assert audit.result.coverage == []
    assert audit.snapshot.listed["Pod"] == 6 and audit.snapshot.listed["Deployment.apps"] == 2
    web = next(f for f in audit.result.findings if f.resource.name == "web")
    assert web.location.path.startswith("cluster/admin@kguard-test/") and web.location.path.endswith("/web.yaml")
    assert web.field_path[:3] == ("spec", "template", "spec")
    assert audit.result.category == "kguard-cluster/admin@kguard-test"
    for res in audit.snapshot.resources:
        assert "managedFields" not in res.metadata and res.origin == "cluster" and res.positions == {}


def test_restricted_auditor_gets_an_honest_coverage_report(kube: Kube) -> None:
    ns = kube.namespace("auditor")
    _workload_with_pods(kube, ns, "api", pods=2)
    kube.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                 "metadata": {"name": "hidden", "namespace": ns}, "rules": []})

    audit = _audit(kube.plane.kubeconfig_auditor)

    gaps = {(g["group"], g["kind"]): g for g in audit.result.coverage}
    for expected in (("apps", "ReplicaSet"), ("networking.k8s.io", "NetworkPolicy"),
                     ("rbac.authorization.k8s.io", "Role"), ("rbac.authorization.k8s.io", "ClusterRole"),
                     ("", "ServiceAccount")):
        assert expected in gaps, sorted(gaps)
        assert gaps[expected]["status"] == 403 and gaps[expected]["reason"] == "forbidden"
    assert gaps[("rbac.authorization.k8s.io", "Role")]["namespace"] is None  # forbidden in every namespace
    assert ("", "Pod") not in gaps and ("apps", "Deployment") not in gaps
    # ReplicaSets are unreadable, yet the pods' findings still land on the Deployment (pod-template-hash)
    mine = [f for f in audit.result.findings if f.resource.namespace == ns]
    assert [(f.resource.kind, f.resource.name) for f in mine] == [("Deployment", "api")]


def test_cli_require_full_coverage_exits_2_and_every_format_shows_coverage(kube: Kube, tmp_path: Path) -> None:
    base = [sys.executable, "-m", "scanner", "audit", "--kubeconfig", str(kube.plane.kubeconfig_auditor),
            "--templates", TEMPLATES, "--no-default-policies", "--fail-on", "none", "-q"]
    run = subprocess.run([*base, "-f", "json", "--require-full-coverage"], capture_output=True, text=True,
                         cwd=REPO, timeout=300)
    assert run.returncode == 2, run.stderr
    assert "coverage incomplete" in run.stderr
    assert "kguard: coverage gap: cannot list NetworkPolicy.networking.k8s.io" in run.stderr  # also with -q
    report = json.loads(run.stdout)
    assert any(g["kind"] == "NetworkPolicy" and g["status"] == 403 for g in report["scan"]["coverage"])
    sarif = subprocess.run([*base, "-f", "sarif", "-o", str(tmp_path / "a.sarif")], capture_output=True, text=True,
                           cwd=REPO, timeout=300)
    assert sarif.returncode == 0, sarif.stderr
    log = json.loads((tmp_path / "a.sarif").read_text())
    notes = [n for inv in log["runs"][0]["invocations"] for n in inv.get("toolExecutionNotifications", [])]
    assert any("NetworkPolicy" in n["message"]["text"] for n in notes)
    assert log["runs"][0]["automationDetails"]["id"].startswith("kguard-cluster/auditor@kguard-test")


def test_lists_are_paginated(kube: Kube) -> None:
    ns = kube.namespace("paging")
    for i in range(23):
        kube.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"svc-{i:02d}", "namespace": ns},
                     "spec": {"clusterIP": "None", "ports": [{"port": 80}]}})
    small = _audit(kube.plane.kubeconfig_admin, [ns], page_size=5)
    excluded = run_audit(AuditOptions(kubeconfig=str(kube.plane.kubeconfig_admin),
                                      read=ReadOptions(exclude_namespaces=["paging-*"])),
                         ScanOptions(template_dirs=[TEMPLATES], default_policies=False))
    assert not [r for r in excluded.snapshot.resources if (r.namespace or r.name).startswith("paging-")]
    assert ns not in excluded.snapshot.namespaces and "default" in excluded.snapshot.namespaces
    big = _audit(kube.plane.kubeconfig_admin, [ns], page_size=500)
    names = sorted(r.name for r in small.snapshot.resources if r.kind == "Service")
    assert names == [f"svc-{i:02d}" for i in range(23)]
    assert small.snapshot.requests - big.snapshot.requests >= 4  # 5 pages instead of 1 for the Services


def _write(path: Path, *objects: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump_all(objects, sort_keys=False))


def test_drift_against_git_manifests(kube: Kube, tmp_path: Path) -> None:
    ns = kube.namespace("drift")
    app = deployment("app", ns, serviceAccountName="app",
                     volumes=[{"name": "cfg", "configMap": {"name": "app"}}])
    app["spec"]["template"]["spec"]["containers"][0]["securityContext"] = {"runAsNonRoot": True,
                                                                           "allowPrivilegeEscalation": False}
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "app", "namespace": ns},
           "spec": {"selector": {"app": "app"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    netpol = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "app",
              "namespace": ns}, "spec": {"podSelector": {"matchLabels": {"app": "app"}},
                                         "ingress": [{"ports": [{"port": 8080}]}]}}
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "app",
            "namespace": ns}, "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "app", "namespace": ns},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "app"},
               "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": ns}]}
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "app", "namespace": ns}}
    worker = deployment("worker", ns)
    git = tmp_path / "git"
    git.mkdir()
    _write(git / "app.yaml", app, svc, sa)
    _write(git / "security.yaml", netpol, role, binding)
    _write(git / "worker.yaml", worker)  # never applied

    for obj in (svc, netpol, role, sa):
        kube.create(copy.deepcopy(obj))
    live_app = copy.deepcopy(app)
    live_app["spec"]["template"]["spec"]["hostPID"] = True
    kube.create(live_app)
    live_binding = copy.deepcopy(binding)
    live_binding["subjects"].append({"kind": "Group", "name": "system:authenticated",
                                     "apiGroup": "rbac.authorization.k8s.io"})
    kube.create(live_binding)
    kube.create(deployment("hand-made", ns, privileged=True))

    audit = _audit(kube.plane.kubeconfig_admin, [ns], manifests=[str(git)])

    drift = sorted((f.rule_id, f.resource.kind, f.resource.name) for f in audit.result.findings
                   if f.category == "drift")
    assert drift == [("drift-missing-in-cluster", "Deployment", "worker"),
                     ("drift-missing-in-git", "Deployment", "hand-made"),
                     ("drift-security-field", "Deployment", "app"),
                     ("drift-security-field", "RoleBinding", "app")]
    host_pid = next(f for f in audit.result.findings if f.rule_id == "drift-security-field"
                    and f.resource.kind == "Deployment")
    assert "hostPID" in host_pid.message and host_pid.location.path.endswith("git/app.yaml")
    rule_ids = {r.id for r in audit.result.rules}
    assert {"drift-missing-in-git", "drift-missing-in-cluster", "drift-security-field"} <= rule_ids
    # the live finding on a Git-declared object points at the Git file; the hand-made one keeps its cluster URI
    hand_made = next(f for f in audit.result.findings if f.rule_id == "test-privileged")
    assert hand_made.location.path.startswith("cluster/")


def test_live_findings_map_to_the_declaring_manifest(kube: Kube, tmp_path: Path) -> None:
    ns = kube.namespace("mapping")
    obj = deployment("web", ns, privileged=True)
    (tmp_path / "web.yaml").write_text(yaml.safe_dump(obj, sort_keys=False))
    kube.create(copy.deepcopy(obj))
    audit = _audit(kube.plane.kubeconfig_admin, [ns], manifests=[str(tmp_path)], drift=False, cluster_name="prod/eu")
    [finding] = audit.result.findings
    assert finding.location.path.endswith("web.yaml") and not finding.location.path.startswith("cluster/")
    lines = (tmp_path / "web.yaml").read_text().splitlines()
    assert "privileged" in lines[finding.location.line - 1]
    assert audit.mapped == 1
    assert audit.result.category == "kguard-cluster/prod_eu"


def test_namespace_level_grants_are_used_and_the_rest_reported(kube: Kube) -> None:
    """NetworkPolicies readable in one namespace only (a RoleBinding): read there, a gap for each other one."""
    granted, other = kube.namespace("granted"), kube.namespace("denied")
    for ns in (granted, other):
        kube.create({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                     "metadata": {"name": "open", "namespace": ns},
                     "spec": {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]}})
    kube.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                 "metadata": {"name": "read-netpol", "namespace": granted},
                 "rules": [{"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"],
                            "verbs": ["list"]}]})
    kube.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                 "metadata": {"name": "read-netpol", "namespace": granted},
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-netpol"},
                 "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "auditor"}]})

    audit = _audit(kube.plane.kubeconfig_auditor)

    netpol_gaps = {g["namespace"] for g in audit.result.coverage if g["kind"] == "NetworkPolicy"}
    assert other in netpol_gaps and granted not in netpol_gaps and None not in netpol_gaps
    open_ingress = {f.resource.namespace for f in audit.result.findings if f.rule_id == "test-open-ingress"}
    assert open_ingress == {granted}


def test_secrets_are_read_as_metadata_only(kube: Kube) -> None:
    ns = kube.namespace("secrets")
    for name, labels in (("labelled", {"owner": "team-a"}), ("anonymous", {})):
        kube.create({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                     "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": {
                         "kubectl.kubernetes.io/last-applied-configuration": '{"data":{"password":"aHVudGVyMg=="}}',
                         "team": "a"}},
                     "data": {"password": "aHVudGVyMg=="}, "stringData": {"token": "s3cr3t"}},
                    f"/api/v1/namespaces/{ns}/secrets")
    templates = str(Path(__file__).parent / "templates-secrets")
    audit = run_audit(AuditOptions(kubeconfig=str(kube.plane.kubeconfig_admin), read=ReadOptions(namespaces=[ns])),
                      ScanOptions(template_dirs=[templates], default_policies=False))
    secrets = [r for r in audit.snapshot.resources if r.kind == "Secret"]
    assert sorted(r.name for r in secrets) == ["anonymous", "labelled"]
    for res in secrets:
        assert set(res.obj) == {"apiVersion", "kind", "metadata"} and res.api_version == "v1"
        assert "aHVudGVyMg" not in json.dumps(res.obj) and "s3cr3t" not in json.dumps(res.obj)
        assert res.metadata["annotations"] == {"team": "a"}
    assert [f.message for f in audit.result.findings] == ["secret anonymous has no owner label"]


def test_wrong_credentials_are_one_line_and_exit_2(kube: Kube, tmp_path: Path) -> None:
    config = yaml.safe_load(kube.plane.kubeconfig_admin.read_text())
    config["users"][0]["user"]["token"] = "not-a-valid-token"
    bad = tmp_path / "bad.kubeconfig"
    bad.write_text(yaml.safe_dump(config))
    run = subprocess.run([sys.executable, "-m", "scanner", "audit", "--kubeconfig", str(bad)], capture_output=True,
                         text=True, cwd=REPO, timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0 and "401 Unauthorized" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr


def test_policies_reading_an_unreadable_inventory_are_not_evaluated(kube: Kube) -> None:
    """The auditor cannot list NetworkPolicies: "no NetworkPolicy selects X" would be a guess, so it is not made."""
    ns = kube.namespace("blind")
    kube.create(deployment("web", ns))
    audit = run_audit(AuditOptions(kubeconfig=str(kube.plane.kubeconfig_auditor), read=ReadOptions(namespaces=[ns])),
                      ScanOptions(select=["seg-*"]))
    assert not [f for f in audit.result.findings if f.resource.namespace == ns or f.resource.name == ns]
    reasons = [s.reason for s in audit.result.not_evaluated]
    assert any(r.startswith("seg-workload-ingress-isolation: not evaluated") and "NetworkPolicy" in r
               for r in reasons), reasons
    assert "seg-workload-ingress-isolation" in {r.id for r in audit.result.rules}

    admin = run_audit(AuditOptions(kubeconfig=str(kube.plane.kubeconfig_admin), read=ReadOptions(namespaces=[ns])),
                      ScanOptions(select=["seg-*"]))
    assert "seg-workload-ingress-isolation" in {f.rule_id for f in admin.result.findings}  # with full access


def test_reports_are_byte_identical_across_runs(kube: Kube, tmp_path: Path) -> None:
    ns = kube.namespace("determinism")
    _workload_with_pods(kube, ns, "web", pods=2)
    git = tmp_path / "git"
    git.mkdir()
    _write(git / "web.yaml", deployment("web", ns, privileged=True), deployment("gone", ns))
    outputs = []
    for run_index in range(2):
        out = tmp_path / f"run{run_index}.sarif"
        run = subprocess.run([sys.executable, "-m", "scanner", "audit", "--kubeconfig",
                              str(kube.plane.kubeconfig_admin), "--namespace", ns, "--templates", TEMPLATES,
                              "--no-default-policies", "--manifests", str(git), "-f", "sarif", "-o", str(out), "-q"],
                             capture_output=True, text=True, cwd=REPO, timeout=300)
        assert run.returncode == 1, run.stderr  # a high finding
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    results = json.loads(outputs[0])["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"test-privileged", "drift-missing-in-cluster"}
