"""Real 503s: an aggregated API whose backing service does not exist. Discovery is retried, then reported."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from scanner.cluster.audit import AuditOptions, run_audit
from scanner.cluster.read import ReadOptions
from scanner.scan import ScanOptions
from tests.cluster.conftest import Kube
from tests.fixtures.controlplane import api_request

pytestmark = pytest.mark.cluster
GROUP = "widgets.kguard.test"
APISERVICES = "/apis/apiregistration.k8s.io/v1/apiservices"


@pytest.fixture
def unavailable_api(kube: Kube) -> Iterator[str]:
    def admin(method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        return api_request(kube.plane.server, kube.plane.ca_file, kube.plane.admin_token, method, path, body)

    service = {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": f"v1.{GROUP}"},
               "spec": {"group": GROUP, "version": "v1", "groupPriorityMinimum": 1000, "versionPriority": 15,
                        "insecureSkipTLSVerify": True,
                        "service": {"name": "nowhere", "namespace": "default", "port": 443}}}
    status, body = admin("POST", APISERVICES, service)
    assert status == 201, body
    deadline = time.monotonic() + 30
    while admin("GET", f"/apis/{GROUP}/v1")[0] != 503:
        assert time.monotonic() < deadline, "the aggregated API never answered 503"
        time.sleep(0.3)
    yield GROUP
    admin("DELETE", f"{APISERVICES}/v1.{GROUP}")


def _widget_template(directory: Path) -> str:
    template = {"apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
                "metadata": {"name": "k8stestwidget"},
                "spec": {"crd": {"spec": {"names": {"kind": "K8sTestWidget"}}},
                         "targets": [{"target": "admission.k8s.gatekeeper.sh", "code": [{"engine": "Rego", "source": {
                             "version": "v1", "rego": "package k8stestwidget\n\nviolation contains {\"msg\": \"w\"} if {\n"
                                                      "\tinput.review.object.spec.bad\n}\n"}}]}]}}
    constraint = {"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "K8sTestWidget",
                  "metadata": {"name": "widgets"},
                  "spec": {"match": {"kinds": [{"apiGroups": [GROUP], "kinds": ["Widget"]}]}}}
    (directory / "widget.yaml").write_text(yaml.safe_dump_all([template, constraint]))
    return str(directory)


def test_unavailable_api_is_retried_then_a_coverage_gap(kube: Kube, unavailable_api: str, tmp_path: Path) -> None:
    ns = kube.namespace("unavailable")
    options = AuditOptions(kubeconfig=str(kube.plane.kubeconfig_admin), read=ReadOptions(namespaces=[ns]))
    started = time.monotonic()
    audit = run_audit(options, ScanOptions(template_dirs=[_widget_template(tmp_path)], default_policies=False))
    elapsed = time.monotonic() - started

    [gap] = [g for g in audit.result.coverage if g["group"] == unavailable_api]
    assert (gap["kind"], gap["status"], gap["reason"]) == ("*", 503, "error")
    assert "503" in gap["message"]
    assert elapsed >= 3.5  # four retries with exponential backoff (0.5 s doubling, jitter >= 50 %)
    assert not any("Widget" in s.reason for s in audit.result.skipped)  # unknown, not "not served"
