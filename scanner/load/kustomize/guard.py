"""What kguard refuses to render, checked before `kubectl kustomize` runs: remote references (kustomize would
fetch them: SSRF from a CI runner), files under a `.git/` directory (the checkout's credentials) and files or
directories outside the repository. The render itself also runs without network (see `render.offline_env`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from scanner.load.files import display_path, escaping_link, repo_root
from scanner.load.kustomize.inputs import (
    PLUGIN_LISTS,
    KustomizationError,
    Reference,
    chart_homes,
    helm_repositories,
    is_remote,
    plugin_config_specs,
    read_kustomization,
    reference_entries,
    resolved,
    spec_references,
    spec_repositories,
)
from scanner.load.kustomize.render import kustomization_file
from scanner.load.kustomize.sources import file_docs
from scanner.load.yaml_source import YamlLoadError, parse_documents


class RefusedInput(Exception):
    """An overlay kguard will not render; the message names the entry, its file and line."""


def check_local(overlay: Path) -> None:
    """Raise `RefusedInput` for the first remote, `.git/` or out-of-repository entry reachable from ``overlay``.

    Every entry that names something to read is checked, and the directories among them are followed
    breadth-first in file order; unreadable kustomizations are left to kustomize, which reports them.
    """
    start = overlay.resolve()
    boundary = repo_root(str(start))
    seen: set[Path] = set()
    queue = [start]
    while queue:
        directory = queue.pop(0)
        if directory in seen:
            continue
        seen.add(directory)
        kfile = kustomization_file(directory)
        if kfile is None:
            continue
        try:
            entries = reference_entries(kfile)
            charts = helm_repositories(kfile)
        except KustomizationError:
            continue
        _refuse_charts(kfile, charts)
        for entry in entries:
            target = _check(kfile, entry, boundary)
            if target.is_dir():
                queue.append(target)
        _check_chart_homes(kfile, read_kustomization(kfile).value, boundary)
        for label, line, spec in _plugin_specs(kfile):  # read only now: every file entry is checked
            def at_entry(found: Reference, label: str = label, line: int | None = line) -> Reference:
                return Reference(f"{label}: {found.field.split('.', 1)[-1]}", found.value, line)

            _refuse_charts(kfile, [at_entry(c) for c in spec_repositories(spec, kfile.parent, lambda _: None)])
            for found in spec_references(spec, lambda _: None):
                _check(kfile, at_entry(found), boundary)
            _check_chart_homes(kfile, spec, boundary)


def _check_chart_homes(kfile: Path, spec: dict[str, Any], boundary: Path | None) -> None:
    """helm follows symbolic links in a chart (kustomize's load restrictor does not cover it): refuse a chart home
    holding a link out of the repository or into .git/."""
    if boundary is None:
        return
    for home in chart_homes(spec, kfile.parent):
        link = escaping_link(home, boundary) if home.is_dir() else None
        if link is not None:
            raise RefusedInput(f"not scanned: symbolic link {display_path(link)} in the Helm chart home of "
                               f"{display_path(kfile)} leads outside the repository or into .git/ (helm would read "
                               "what it points at)")


def _refuse_charts(kfile: Path, charts: list[Reference]) -> None:
    if charts:
        raise RefusedInput(f"not scanned: remote Helm chart repository {charts[0].value} ({charts[0].field}) in "
                           f"{_where(kfile, charts[0])} (kguard renders without network; vendor the chart "
                           "under the chart home)")


def _plugin_specs(kfile: Path) -> list[tuple[str, int | None, dict[str, Any]]]:
    """(field, line, kustomization fields) of each builtin plugin config that ``kfile``'s generators,
    transformers and validators hold inline or name as a file; kustomize reads the files those configs name
    (URLs included) as it reads the kustomization's own."""
    doc = read_kustomization(kfile)
    out = []
    for key in PLUGIN_LISTS:
        for i, entry in enumerate(doc.value.get(key) or []):
            if not isinstance(entry, str):
                continue
            if "\n" in entry:
                try:
                    configs = [d.value for d in parse_documents(entry)]
                except YamlLoadError:
                    continue  # kustomize reports it
            else:
                target = resolved(kfile.parent / entry)
                configs = [d.value for d in file_docs(str(target))] if target and target.is_file() else []
            pos = doc.position((key, i))
            for config in configs:
                spec = plugin_config_specs(config)
                if spec is not None:
                    out.append((f"{key}[{i}] {config['kind']}", pos.line if pos else None, spec))
    return out


def _check(kfile: Path, entry: Reference, boundary: Path | None) -> Path:
    if is_remote(entry.value, kfile.parent):
        raise RefusedInput(f"not scanned: remote resource {entry.value} ({entry.field}) in {_where(kfile, entry)} "
                           "(kguard renders without network and cannot vouch for what it would fetch)")
    written = Path(os.path.normpath(kfile.parent / entry.value))
    target = resolved(written)
    if target is None:
        raise RefusedInput(f"not scanned: {entry.value} in {_where(kfile, entry)} cannot be resolved (symlink loop)")
    if ".git" in written.parts or ".git" in target.parts:
        raise RefusedInput(f"not scanned: {entry.value} in {_where(kfile, entry)} is under a .git/ directory "
                           "(repository metadata and credentials are never rendered)")
    if boundary is not None and not target.is_relative_to(boundary):
        raise RefusedInput(f"not scanned: {entry.value} in {_where(kfile, entry)} is outside the repository")
    return target


def _where(kfile: Path, entry: Reference) -> str:
    shown = display_path(kfile)
    return f"{shown}:{entry.line}" if entry.line else shown
