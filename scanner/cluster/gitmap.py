"""Live findings mapped to the repository manifest that declares the same object (for SARIF file + line)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from scanner.engine.match import is_cluster_scoped
from scanner.load.files import LoadResult, load_paths
from scanner.model import Finding, Location, Resource

Key = tuple[str, str, str, str]


def load_git(manifests: Sequence[str], kustomize: Sequence[str]) -> LoadResult:
    """Manifests (files/directories) and rendered Kustomize overlays, with source positions."""
    loaded = load_paths(list(manifests)) if manifests else LoadResult()
    if kustomize:
        from scanner.load.kustomize import load_overlay

        for directory in kustomize:
            loaded.extend(load_overlay(directory))
    return loaded


def git_index(resources: Iterable[Resource], default_namespace: str = "default") -> dict[Key, Resource]:
    """(group, kind, namespace, name) -> declaring resource; namespaced objects without one use the default."""
    index: dict[Key, Resource] = {}
    for res in resources:
        ns = res.namespace or ("" if is_cluster_scoped(res.api_version, res.kind) else default_namespace)
        index.setdefault((res.api_version.rpartition("/")[0], res.kind, ns, res.name), res)
    return index


def map_findings(findings: list[Finding], index: dict[Key, Resource]) -> tuple[list[Finding], int]:
    """Findings whose object is declared in Git point at the declaring file and field; returns (findings, mapped)."""
    out, mapped = [], 0
    for finding in findings:
        ident = finding.resource
        res = index.get((ident.group, ident.kind, ident.namespace or "", ident.name))
        if res is None or not finding.location.path.startswith("cluster/"):
            out.append(finding)
            continue
        path, pos = res.locate(finding.field_path)
        location = Location(path=path, line=pos.line, column=pos.column, end_line=pos.end_line,
                            end_column=pos.end_column)
        out.append(replace(finding, location=location))
        mapped += 1
    return out, mapped
