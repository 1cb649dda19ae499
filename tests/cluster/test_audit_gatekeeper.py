"""Gatekeeper drift on a real API server: installed templates vs `policies/`, totalViolations vs kguard's count.

Gatekeeper itself does not run here: its CRDs are applied (as Gatekeeper would create them) and constraint
status is written the way its audit writes it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from scanner.cluster.audit import AuditOptions, run_audit
from scanner.cluster.read import ReadOptions
from scanner.engine.catalogue import default_policy_dir, load_catalogue
from scanner.scan import ScanOptions
from tests.cluster.conftest import Kube, container
from tests.fixtures.controlplane import api_request

pytestmark = pytest.mark.cluster
TEMPLATES = str(Path(__file__).parent / "templates")
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def _crd(group: str, version: str, kind: str, plural: str) -> dict[str, Any]:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {"group": group, "scope": "Cluster",
                     "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
                     "versions": [{"name": version, "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                         "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}


def _wait_served(kube: Kube, path: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, _ = api_request(kube.plane.server, kube.plane.ca_file, kube.plane.admin_token, "GET", path)
        if status == 200:
            return
        time.sleep(0.2)
    raise AssertionError(f"{path} not served after {timeout}s")


def _constraint(name: str, namespace: str, total: int) -> dict[str, Any]:
    return {"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "K8sTestPrivileged",
            "metadata": {"name": name},
            "spec": {"match": {"namespaces": [namespace],
                               "kinds": [{"apiGroups": [""], "kinds": ["Pod"]}]}},
            "status": {"totalViolations": total, "auditTimestamp": "2026-01-01T00:00:00Z"}}


def test_gatekeeper_template_and_violation_count_drift(kube: Kube) -> None:
    for crd in (_crd("templates.gatekeeper.sh", "v1", "ConstraintTemplate", "constrainttemplates"),
                _crd("constraints.gatekeeper.sh", "v1beta1", "K8sTestPrivileged", "k8stestprivileged")):
        status, body = api_request(kube.plane.server, kube.plane.ca_file, kube.plane.admin_token, "POST", CRD_PATH,
                                   crd)
        assert status in (201, 409), body
    _wait_served(kube, "/apis/templates.gatekeeper.sh/v1/constrainttemplates")
    _wait_served(kube, "/apis/constraints.gatekeeper.sh/v1beta1/k8stestprivileged")

    policies = {p.rule.id: p for p in load_catalogue(default_policy_dir())}
    assert len(policies) >= 2
    tampered_id, intact_id = sorted(policies)[:2]
    tampered = policies[tampered_id].to_template()
    tampered["spec"]["targets"][0]["code"][0]["source"]["rego"] += "\n# hot-fixed in the cluster\nallow := true\n"
    kube.create(tampered, "/apis/templates.gatekeeper.sh/v1/constrainttemplates")
    kube.create(policies[intact_id].to_template(), "/apis/templates.gatekeeper.sh/v1/constrainttemplates")

    ns = kube.namespace("gatekeeper")
    for name in ("p1", "p2"):
        kube.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
                     "spec": {"containers": [container(privileged=True)]}})
    constraints = "/apis/constraints.gatekeeper.sh/v1beta1/k8stestprivileged"
    kube.create(_constraint("gk-in-sync", ns, 2), constraints)
    kube.create(_constraint("gk-stale", ns, 9), constraints)

    scan = ScanOptions(template_dirs=[TEMPLATES], select=["test-privileged"])
    audit = run_audit(AuditOptions(kubeconfig=str(kube.plane.kubeconfig_admin), read=ReadOptions()), scan)

    drift = sorted((f.rule_id, f.resource.name) for f in audit.result.findings if f.category == "drift")
    assert drift == [("drift-gatekeeper-template", tampered["metadata"]["name"]),
                     ("drift-gatekeeper-violations", "gk-stale")]
    stale = next(f for f in audit.result.findings if f.rule_id == "drift-gatekeeper-violations")
    assert "reports 9" in stale.message and "kguard finds 2" in stale.message
    assert {"drift-gatekeeper-template", "drift-gatekeeper-violations"} <= {r.id for r in audit.result.rules}

    # a namespace-limited audit sees a subset: counts are not compared, and that is said
    partial = run_audit(AuditOptions(kubeconfig=str(kube.plane.kubeconfig_admin),
                                     read=ReadOptions(namespaces=[ns])), scan)
    assert not [f for f in partial.result.findings if f.rule_id == "drift-gatekeeper-violations"]
    assert any("not compared" in s.reason for s in partial.result.skipped)
