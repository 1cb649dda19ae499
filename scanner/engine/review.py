"""`input.review` and `data.inventory` built from scanned objects, in Gatekeeper's shapes."""

from __future__ import annotations

from typing import Any

from scanner.engine.match import is_cluster_scoped
from scanner.model import Resource


def group_version_kind(api_version: str, kind: str) -> dict[str, str]:
    group, _, version = api_version.rpartition("/")
    return {"group": group, "version": version, "kind": kind}


def review(obj: dict[str, Any], namespace_obj: dict[str, Any] | None = None) -> dict[str, Any]:
    """The AdmissionRequest-shaped review Gatekeeper's audit builds from a stored object."""
    meta = obj.get("metadata") or {}
    result: dict[str, Any] = {
        "kind": group_version_kind(str(obj.get("apiVersion", "")), str(obj.get("kind", ""))),
        "name": meta.get("name", ""),
        "object": obj,
        "oldObject": None,
        "operation": "",
        "uid": "",
        "userInfo": {},
    }
    if meta.get("namespace"):
        result["namespace"] = meta["namespace"]
        if namespace_obj is not None:
            result["namespaceObject"] = namespace_obj
    return result


def apply_default_namespace(resources: list[Resource], default_namespace: str) -> None:
    """Namespaced objects without metadata.namespace land in ``default_namespace``, as with `kubectl apply`."""
    for res in resources:
        if res.namespace or is_cluster_scoped(res.api_version, res.kind):
            continue
        meta = res.obj.setdefault("metadata", {})
        if isinstance(meta, dict):
            meta["namespace"] = default_namespace


def inventory(resources: list[Resource]) -> dict[str, Any]:
    """`data.inventory` in Gatekeeper sync layout: cluster[gv][kind][name], namespace[ns][gv][kind][name]."""
    cluster: dict[str, Any] = {}
    namespaced: dict[str, Any] = {}
    for res in resources:
        gv, kind, name = res.api_version, res.kind, res.name
        if not (gv and kind and name):
            continue
        ns = res.namespace
        if ns and not is_cluster_scoped(gv, kind):
            namespaced.setdefault(ns, {}).setdefault(gv, {}).setdefault(kind, {})[name] = res.obj
        else:
            cluster.setdefault(gv, {}).setdefault(kind, {})[name] = res.obj
    return {"cluster": cluster, "namespace": namespaced}


def namespaces_by_name(resources: list[Resource]) -> dict[str, dict[str, Any]]:
    return {res.name: res.obj for res in resources if res.kind == "Namespace" and res.api_version == "v1"}
