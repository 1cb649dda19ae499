"""Read the live state an audit needs into `Resource` objects, recording what could not be read.

Listing runs on a bounded thread pool. A namespaced kind that cannot be listed across all namespaces (403) is
retried namespace by namespace, so partial permissions give partial results plus precise coverage gaps.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from scanner.cluster.client import ApiError, ClusterClient
from scanner.cluster.coverage import Gap, aggregate
from scanner.cluster.discovery import ApiResource, discover
from scanner.cluster.kinds import METADATA_ONLY, Pattern, groups_needed, plan
from scanner.cluster.listing import list_objects
from scanner.engine.match import glob_match
from scanner.model import Resource

CLUSTER_SCOPE_DIR = "_cluster"
CORE_GROUP_DIR = "core"
Progress = Callable[[str, int], None]  # (what was listed, object count); count < 0: a new phase named by `what`


@dataclass(slots=True, kw_only=True)
class ReadOptions:
    namespaces: Sequence[str] = ()  # only these namespaces (exact names)
    exclude_namespaces: Sequence[str] = ()  # Gatekeeper globs: x*, *x, *x*
    page_size: int = 500
    concurrency: int = 8


@dataclass(slots=True, kw_only=True)
class Snapshot:
    context: str
    server: str
    resources: list[Resource] = field(default_factory=list)
    coverage: list[dict[str, Any]] = field(default_factory=list)
    not_installed: list[str] = field(default_factory=list)
    not_served: set[tuple[str, str]] = field(default_factory=set)  # (group, kind) wanted, absent from discovery
    namespaces: list[str] = field(default_factory=list)  # namespaces in scope
    listed: dict[str, int] = field(default_factory=dict)  # "<kind>.<group>" -> objects read
    listed_kinds: set[tuple[str, str]] = field(default_factory=set)  # (group, kind) listed at least partly
    unreadable: set[tuple[str, str]] = field(default_factory=set)  # (group, kind) with any gap
    requests: int = 0


def safe_segment(text: str) -> str:
    """A path segment from a name or context (no slashes, no spaces, no colons)."""
    return re.sub(r"[^A-Za-z0-9._@-]", "_", text) or "_"


def synthetic_path(context: str, obj: dict[str, Any]) -> str:
    """`cluster/<context>/<namespace|_cluster>/<group|core>/<Kind>/<name>.yaml`: stable across runs."""
    meta = obj.get("metadata") or {}
    group = str(obj.get("apiVersion", "")).rpartition("/")[0] or CORE_GROUP_DIR
    namespace = meta.get("namespace") or CLUSTER_SCOPE_DIR
    parts = [context, namespace, group, str(obj.get("kind", "")), f"{meta.get('name', '')}.yaml"]
    return "cluster/" + "/".join(safe_segment(str(p)) for p in parts)


def in_scope(namespace: str | None, options: ReadOptions) -> bool:
    """Cluster-scoped objects (namespace None) are always in scope."""
    if namespace is None:
        return True
    if options.namespaces and namespace not in options.namespaces:
        return False
    return not any(glob_match(pattern, namespace) for pattern in options.exclude_namespaces)


def _gap(resource: ApiResource, namespace: str | None, exc: ApiError) -> Gap:
    where = f" in namespace {namespace}" if namespace else ""
    return Gap(kind=resource.kind, group=resource.group, version=resource.version, namespace=namespace,
               status=exc.status, message=f"cannot list {resource.label}{where}: {exc.message}")


def _read_namespaces(client: ClusterClient, ns_res: ApiResource | None, options: ReadOptions,
                     gaps: list[Gap]) -> list[dict[str, Any]]:
    if ns_res is None:
        return []
    if not options.namespaces:
        try:
            return list_objects(client, ns_res, None, options.page_size)
        except ApiError as exc:
            gaps.append(_gap(ns_res, None, exc))
            return []
    found = []
    for name in options.namespaces:
        try:
            found.append({"apiVersion": "v1", "kind": "Namespace",
                          **client.get(f"/api/v1/namespaces/{name}")})
        except ApiError as exc:
            gaps.append(Gap(kind="Namespace", group="", version="v1", namespace=name, status=exc.status,
                            message=f"cannot read namespace {name}: {exc.message}"))
    for obj in found:
        (obj.get("metadata") or {}).pop("managedFields", None)
    return found


def read_cluster(client: ClusterClient, patterns: set[Pattern], options: ReadOptions,
                 progress: Progress | None = None) -> Snapshot:
    """Discover, list every planned kind in scope, and return the objects with the coverage gaps."""
    snap = Snapshot(context=client.context, server=client.server)
    discovery = discover(client, groups_needed(patterns), options.concurrency)
    gaps: list[Gap] = list(discovery.gaps)
    kind_plan = plan(patterns, discovery)
    snap.not_installed, snap.not_served = kind_plan.not_installed, kind_plan.not_served
    report = progress or (lambda _what, _count: None)

    namespace_objs = [o for o in _read_namespaces(client, discovery.resources.get(("", "Namespace")), options, gaps)
                      if in_scope((o.get("metadata") or {}).get("name"), options)]
    if any((g.group, g.kind) == ("", "Namespace") for g in gaps):  # labels unknown: selectors and analyses guess
        snap.unreadable.add(("", "Namespace"))
    # with --namespace, list there even when the Namespace object itself is not readable
    snap.namespaces = sorted(set(options.namespaces) if options.namespaces
                             else {str(o["metadata"]["name"]) for o in namespace_objs})
    if namespace_objs:
        snap.listed["Namespace"] = len(namespace_objs)
        snap.listed_kinds.add(("", "Namespace"))
        report("Namespace", len(namespace_objs))
    objects: list[dict[str, Any]] = list(namespace_objs)
    resources = [r for r in kind_plan.resources if (r.group, r.kind) != ("", "Namespace")]

    def fetch(job: tuple[ApiResource, str | None]) -> tuple[ApiResource, str | None, list | ApiError]:
        resource, namespace = job
        try:
            items = list_objects(client, resource, namespace, options.page_size,
                                 metadata_only=(resource.group, resource.kind) in METADATA_ONLY)
        except ApiError as exc:
            return resource, namespace, exc
        return resource, namespace, items

    first: list[tuple[ApiResource, str | None]] = []
    for resource in resources:
        if resource.namespaced and options.namespaces:
            first.extend((resource, ns) for ns in snap.namespaces)
        else:
            first.append((resource, None))
    retry: list[tuple[ApiResource, str | None]] = []
    with ThreadPoolExecutor(max_workers=max(1, options.concurrency)) as pool:
        for jobs in (first, retry):
            for resource, namespace, outcome in pool.map(fetch, jobs):
                if isinstance(outcome, ApiError):
                    fallback = (outcome.status == 403 and namespace is None and resource.namespaced
                                and snap.namespaces and not options.namespaces)
                    if fallback:
                        retry.extend((resource, ns) for ns in snap.namespaces)
                    else:
                        gaps.append(_gap(resource, namespace, outcome))
                        snap.unreadable.add((resource.group, resource.kind))
                    continue
                kept = [o for o in outcome if in_scope((o.get("metadata") or {}).get("namespace"), options)]
                snap.listed[resource.label] = snap.listed.get(resource.label, 0) + len(kept)
                snap.listed_kinds.add((resource.group, resource.kind))
                objects.extend(kept)
                report(resource.label + (f" in {namespace}" if namespace else ""), len(kept))
    snap.coverage = aggregate(gaps, snap.namespaces)
    snap.resources = [Resource(obj=o, path=synthetic_path(client.context, o), positions={}, origin="cluster")
                      for o in sorted(objects, key=_sort_key)]
    snap.requests = client.requests
    return snap


def _sort_key(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    meta = obj.get("metadata") or {}
    return (str(obj.get("apiVersion", "")), str(obj.get("kind", "")), str(meta.get("namespace") or ""),
            str(meta.get("name") or ""))
