"""Live-cluster test helpers: the real control plane fixture and a tiny admin client to create objects."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.fixtures.controlplane import ControlPlane, api_request
from tests.fixtures.controlplane import control_plane as control_plane  # re-exported session fixture

# kind -> (API prefix, plural, namespaced)
PLURALS: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("/api/v1", "namespaces", False),
    "Pod": ("/api/v1", "pods", True),
    "Service": ("/api/v1", "services", True),
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "Deployment": ("/apis/apps/v1", "deployments", True),
    "ReplicaSet": ("/apis/apps/v1", "replicasets", True),
    "NetworkPolicy": ("/apis/networking.k8s.io/v1", "networkpolicies", True),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "CustomResourceDefinition": ("/apis/apiextensions.k8s.io/v1", "customresourcedefinitions", False),
}
_counter = itertools.count()


@dataclass
class Kube:
    plane: ControlPlane

    def create(self, obj: dict[str, Any], path: str | None = None) -> dict[str, Any]:
        """POST ``obj`` as admin; returns the stored object (with uid). Fails the test on any error."""
        if path is None:
            prefix, plural, namespaced = PLURALS[obj["kind"]]
            ns = obj["metadata"].get("namespace")
            path = f"{prefix}/namespaces/{ns}/{plural}" if namespaced else f"{prefix}/{plural}"
        status, body = api_request(self.plane.server, self.plane.ca_file, self.plane.admin_token, "POST", path, obj)
        assert status == 201, f"create {obj['kind']} {obj['metadata'].get('name')}: {status} {body}"
        return body

    def namespace(self, prefix: str, labels: dict[str, str] | None = None) -> str:
        """A fresh namespace (namespaces are never deleted: there is no namespace controller)."""
        name = f"{prefix}-{next(_counter)}-{uuid.uuid4().hex[:6]}"
        self.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}})
        return name


@pytest.fixture(scope="session")
def kube(control_plane: ControlPlane) -> Iterator[Kube]:
    yield Kube(control_plane)


def container(name: str = "app", privileged: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "image": "registry.example/app:1.0"}
    if privileged:
        spec["securityContext"] = {"privileged": True}
    return spec


def deployment(name: str, namespace: str, privileged: bool = False, **pod_spec: Any) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [container(privileged=privileged)], **pod_spec}}}}


def owner_ref(obj: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True}
