"""The nightly audit's shipped identity (manifests/kguard-system/rbac.yaml) is enough for the default policies.

The ClusterRole is bound to a fresh ServiceAccount whose token comes from the real TokenRequest API; a full
audit with that token must read every kind kguard's policies need (constraint kinds of other origins, installed
by other tests, are the only acceptable gaps).
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from scanner.cluster.audit import AuditOptions, run_audit
from scanner.cluster.read import ReadOptions
from scanner.scan import ScanOptions
from tests.cluster.conftest import Kube
from tests.fixtures.controlplane import api_request, write_kubeconfig

pytestmark = pytest.mark.cluster
RBAC = Path(__file__).resolve().parents[2] / "manifests" / "kguard-system" / "rbac.yaml"


def test_shipped_cluster_role_covers_the_default_policies(kube: Kube, tmp_path: Path) -> None:
    [role] = [d for d in yaml.safe_load_all(RBAC.read_text()) if d and d.get("kind") == "ClusterRole"]
    ns = kube.namespace("nightly")
    role = copy.deepcopy(role)
    role["metadata"] = {"name": f"kguard-nightly-{ns}"}  # the fixture's auditor already owns the shipped name
    kube.create(role)
    kube.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "kguard", "namespace": ns}})
    status, body = api_request(kube.plane.server, kube.plane.ca_file, kube.plane.admin_token, "POST",
                               "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
                                   "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                                   "metadata": {"name": role["metadata"]["name"]},
                                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                               "name": role["metadata"]["name"]},
                                   "subjects": [{"kind": "ServiceAccount", "name": "kguard", "namespace": ns}]})
    assert status == 201, body
    status, token = api_request(kube.plane.server, kube.plane.ca_file, kube.plane.admin_token, "POST",
                                f"/api/v1/namespaces/{ns}/serviceaccounts/kguard/token",
                                {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}})
    assert status == 201, token
    kubeconfig = write_kubeconfig(tmp_path / "nightly.kubeconfig", kube.plane.server, kube.plane.ca_file,
                                  "kguard-nightly", token["status"]["token"])

    audit = run_audit(AuditOptions(kubeconfig=str(kubeconfig), read=ReadOptions()), ScanOptions())

    assert audit.snapshot.listed.get("ClusterRole.rbac.authorization.k8s.io", 0) > 0  # really read as the SA
    foreign = [g for g in audit.result.coverage
               if g["group"] == "constraints.gatekeeper.sh" and not g["kind"].startswith("Kguard")]
    assert [g for g in audit.result.coverage if g not in foreign] == []
