"""API discovery: which (group, kind) the server serves, under which version and plural, namespaced or not."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from scanner.cluster.client import ApiError, ClusterClient
from scanner.cluster.coverage import Gap


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiResource:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def label(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def path(self, namespace: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        scope = f"/namespaces/{namespace}" if namespace and self.namespaced else ""
        return f"{base}{scope}/{self.plural}"


@dataclass(slots=True)
class Discovery:
    resources: dict[tuple[str, str], ApiResource] = field(default_factory=dict)  # (group, kind) -> preferred
    groups: dict[str, str] = field(default_factory=dict)  # group -> preferred version
    failed_groups: set[str] = field(default_factory=set)  # served, but their discovery failed (e.g. 503)
    gaps: list[Gap] = field(default_factory=list)


def parse_resource_list(group: str, version: str, body: dict) -> list[ApiResource]:
    """Listable top-level resources of an APIResourceList (subresources like `pods/log` are left out)."""
    out = []
    for item in body.get("resources") or []:
        name = str(item.get("name", ""))
        verbs = tuple(item.get("verbs") or ())
        if not name or "/" in name or "list" not in verbs:
            continue
        out.append(ApiResource(group=group, version=version, kind=str(item.get("kind", "")), plural=name,
                               namespaced=bool(item.get("namespaced")), verbs=verbs))
    return out


def discover(client: ClusterClient, groups: Iterable[str] | None = None, concurrency: int = 8) -> Discovery:
    """Discover the core API and the preferred version of ``groups`` (None: every group)."""
    found = Discovery()
    try:
        core = client.get("/api/v1")
    except ApiError as exc:
        found.gaps.append(Gap(kind="*", group="", version="v1", namespace=None, status=exc.status,
                              message=f"core API discovery failed: {exc}"))
        return found  # unreachable or not authenticated: nothing else will work either
    found.groups[""] = "v1"
    for res in parse_resource_list("", "v1", core):
        found.resources[("", res.kind)] = res
    try:
        group_list = client.get("/apis")
    except ApiError as exc:
        found.gaps.append(Gap(kind="*", group="*", version="", namespace=None, status=exc.status,
                              message=f"API group discovery failed: {exc.message}"))
        return found
    for group in group_list.get("groups") or []:
        preferred = (group.get("preferredVersion") or {}).get("version")
        if preferred:
            found.groups[str(group.get("name"))] = str(preferred)
    wanted = sorted(found.groups.keys() - {""} if groups is None else set(groups) & found.groups.keys() - {""})

    def fetch(name: str) -> tuple[str, dict | ApiError]:
        try:
            return name, client.get(f"/apis/{name}/{found.groups[name]}")
        except ApiError as exc:
            return name, exc

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for name, body in pool.map(fetch, wanted):
            version = found.groups[name]
            if isinstance(body, ApiError):
                found.failed_groups.add(name)
                found.gaps.append(Gap(kind="*", group=name, version=version, namespace=None, status=body.status,
                                      message=f"discovery of {name}/{version} failed: {body}"))
                continue
            for res in parse_resource_list(name, version, body):
                found.resources.setdefault((name, res.kind), res)
    return found
