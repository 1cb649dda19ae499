"""`input.review` and `data.inventory` built from scanned objects, in Gatekeeper's shapes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scanner.engine.match import is_cluster_scoped
from scanner.engine.templates import Template
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


def inventory_kinds(templates: Iterable[Template]) -> frozenset[tuple[str, str]] | None:
    """The (group, kind)s `data.inventory` must hold for ``templates``, as Gatekeeper's sync would: Namespaces and
    every kind a template declares it reads (`requires-sync-data`; the catalogue's `sync:`); None (everything) when
    one reads `data.inventory` without declaring what, or declares a wildcard."""
    kinds = {("", "Namespace")}
    for template in templates:
        if template.requires_sync is None:
            if template.uses_inventory:
                return None
            continue
        kinds.update(gk for requirement in template.requires_sync for gk in requirement)
    return None if any("*" in gk for gk in kinds) else frozenset(kinds)


def synced(resources: list[Resource], kinds: frozenset[tuple[str, str]] | None) -> list[Resource]:
    """The objects of ``kinds`` (`inventory_kinds`; None: all of them)."""
    if kinds is None:
        return resources
    return [res for res in resources if (res.api_version.rpartition("/")[0], res.kind) in kinds]


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
