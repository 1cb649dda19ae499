"""What kguard refuses to render, checked before `kubectl kustomize` runs: remote references (kustomize would
fetch them: SSRF from a CI runner), files under a `.git/` directory (the checkout's credentials) and files or
directories outside the repository. The render itself also runs without network (see `render.offline_env`)."""

from __future__ import annotations

import os
from pathlib import Path

from scanner.load.files import display_path, repo_root
from scanner.load.kustomize.inputs import (
    KustomizationError,
    Reference,
    helm_repositories,
    is_remote,
    reference_entries,
    resolved,
)
from scanner.load.kustomize.render import kustomization_file


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
        if charts:
            raise RefusedInput(f"not scanned: remote Helm chart repository {charts[0].value} ({charts[0].field}) in "
                               f"{_where(kfile, charts[0])} (kguard renders without network; vendor the chart "
                               "under the chart home)")
        for entry in entries:
            target = _check(kfile, entry, boundary)
            if target.is_dir():
                queue.append(target)


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
