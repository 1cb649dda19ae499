"""Gate (b): rendered objects validate against the Kubernetes OpenAPI schemas (kubernetes-validate, strict).

Custom resources have no schema in kubernetes-validate; each such kind is listed here with the reason it is
skipped, and any other object without a schema fails the test (nothing is skipped silently).
"""

from __future__ import annotations

import functools
from pathlib import Path

import kubernetes_validate
import kubernetes_validate.utils
import pytest

from tests.manifests.manifest_checks import MANIFESTS, Obj, ident, kustomization_dirs, load_documents, render

# Kubernetes 1.31 schemas (the manifests target 1.28+ APIs; kubernetes-validate ships 1.25 ... 1.37).
K8S_SCHEMA_VERSION = "1.31.0"
FIXTURES = Path(__file__).parent / "fixtures"

# kubernetes-validate re-reads and re-parses the schema JSON files on every call; the files never change, so
# memoising the reader keeps this module fast without changing what is validated.
if not hasattr(kubernetes_validate.utils.schema_contents, "cache_info"):
    kubernetes_validate.utils.schema_contents = functools.cache(kubernetes_validate.utils.schema_contents)

SKIPPED_CUSTOM_RESOURCES: dict[tuple[str, str], str] = {
    ("argoproj.io/v1alpha1", "Application"): "Argo CD CRD (validated by Argo CD on sync)",
    ("argoproj.io/v1alpha1", "AppProject"): "Argo CD CRD (validated by Argo CD on sync)",
    ("argoproj.io/v1alpha1", "Rollout"): "Argo Rollouts CRD; its pod template is checked by the structural tests",
    ("argoproj.io/v1alpha1", "AnalysisTemplate"): "Argo Rollouts CRD",
    ("external-secrets.io/v1", "ExternalSecret"): "External Secrets Operator CRD",
    ("external-secrets.io/v1", "ClusterSecretStore"): "External Secrets Operator CRD",
    ("cert-manager.io/v1", "Certificate"): "cert-manager CRD",
    ("cert-manager.io/v1", "ClusterIssuer"): "cert-manager CRD",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "Prometheus Operator CRD (kube-prometheus-stack)",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "Prometheus Operator CRD (kube-prometheus-stack)",
}


def schema_problems(objs: list[Obj]) -> list[str]:
    """Validation errors; custom resources outside the skip list count as errors too."""
    problems = []
    for obj in objs:
        key = (obj.get("apiVersion", ""), obj.get("kind", ""))
        if key in SKIPPED_CUSTOM_RESOURCES:
            continue
        try:
            kubernetes_validate.validate(obj, K8S_SCHEMA_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{ident(obj)}: no schema for {key[0]} {key[1]} and not listed as a skipped CRD")
        except kubernetes_validate.ValidationError as error:
            path = "/".join(str(p) for p in error.absolute_path)
            problems.append(f"{ident(obj)}: {path}: {error.message}")
    return problems


def test_schema_check_rejects_a_misplaced_field() -> None:
    broken = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
              "spec": {"selector": {"matchLabels": {"a": "b"}},
                       "template": {"metadata": {"labels": {"a": "b"}},
                                    "spec": {"containers": [{"name": "c", "image": "i", "valueFrom": {}}]}}}}
    assert schema_problems([broken])


def test_schema_check_refuses_unlisted_custom_resources() -> None:
    assert schema_problems([{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}])


@pytest.mark.parametrize("fixture", sorted(FIXTURES.glob("helm-*.yaml")), ids=lambda p: p.name)
def test_helm_fixture_validates(fixture: Path) -> None:
    assert schema_problems(load_documents(fixture.read_text())) == []


DIRS = kustomization_dirs(MANIFESTS)


@pytest.mark.integration
@pytest.mark.parametrize("directory", DIRS, ids=[str(d.relative_to(MANIFESTS)) for d in DIRS])
def test_rendered_kustomization_validates(directory: Path) -> None:
    assert schema_problems(render(directory)) == []
