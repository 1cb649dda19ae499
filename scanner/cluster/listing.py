"""Paginated LIST calls (`limit`/`continue`, restart on 410 Gone) and list items turned into plain objects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scanner.cluster.client import ApiError, ClusterClient
from scanner.cluster.discovery import ApiResource

METADATA_ONLY_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
MAX_RESTARTS = 3
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

Fetch = Callable[[dict[str, Any]], dict[str, Any]]


def paginate(fetch: Fetch, page_size: int, max_restarts: int = MAX_RESTARTS) -> list[dict[str, Any]]:
    """Every item of a list, page by page; an expired continue token (410 Gone) restarts the whole list."""
    restarts = 0
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        try:
            page = fetch({"limit": page_size, "continue": token})
        except ApiError as exc:
            if exc.status == 410 and token and restarts < max_restarts:
                restarts += 1
                items, token = [], None
                continue
            raise
        items.extend(page.get("items") or [])
        token = (page.get("metadata") or {}).get("continue") or None
        if not token:
            return items


def normalise(item: dict[str, Any], resource: ApiResource) -> dict[str, Any]:
    """A list item as a standalone object: apiVersion/kind set, managedFields dropped."""
    obj = {"apiVersion": resource.api_version, "kind": resource.kind,
           **{k: v for k, v in item.items() if k not in ("apiVersion", "kind")}}
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return obj


def list_objects(client: ClusterClient, resource: ApiResource, namespace: str | None, page_size: int,
                 metadata_only: bool = False) -> list[dict[str, Any]]:
    """All objects of ``resource`` (in ``namespace``, or everywhere); raises `ApiError`."""
    path = resource.path(namespace)
    accept = METADATA_ONLY_ACCEPT if metadata_only else "application/json"
    items = paginate(lambda params: client.get(path, params, accept=accept), page_size)
    objects = [normalise(item, resource) for item in items]
    if metadata_only:  # PartialObjectMetadata carries metadata only; keep it that way
        objects = [{"apiVersion": o["apiVersion"], "kind": o["kind"], "metadata": without_payload_copies(o)}
                   for o in objects]
    return objects


def without_payload_copies(obj: dict[str, Any]) -> dict[str, Any]:
    """Metadata without annotations that copy the whole object (`kubectl apply` puts Secret data there)."""
    meta = dict(obj.get("metadata") or {})
    annotations = meta.get("annotations")
    if isinstance(annotations, dict) and LAST_APPLIED in annotations:
        meta["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    return meta
