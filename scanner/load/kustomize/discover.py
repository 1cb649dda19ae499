"""Which overlays to scan: discovery under a root (or the `.kguard.yaml` list), `--all-overlays`, and the
pre-commit hook's overlays affected by the staged files."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from scanner.config import CONFIG_FILE, read_config
from scanner.errors import UsageError
from scanner.load.files import display_path
from scanner.load.kustomize.inputs import kustomization_inputs, references
from scanner.load.kustomize.render import KUSTOMIZATION_FILES, kustomization_file
from scanner.load.kustomize.sources import first_mapping

SKIP_DIRS = {"node_modules", "__pycache__", "venv", ".venv"}


def discover_overlays(root: str | Path) -> list[Path]:
    """Overlays under ``root``.

    ``root/.kguard.yaml`` may list them (`overlays:`, in that order); otherwise every directory with a
    kustomization that no other kustomization under ``root`` references and that is not a Component, sorted,
    minus the directories matching `exclude:` globs (relative to ``root``; a match excludes the subtree).
    """
    root_path = Path(root).resolve()
    config = read_config(root_path)
    if config.overlays is not None:
        return _configured_overlays(root_path, list(config.overlays))
    excluded = list(config.exclude)

    def skipped(directory: Path) -> bool:
        relative = directory.relative_to(root_path).as_posix()
        return any(fnmatch.fnmatch(relative, p) or fnmatch.fnmatch(relative, f"{p.rstrip('/')}/*") for p in excluded)

    all_dirs = _kustomization_dirs(root_path)
    referenced: set[Path] = set()
    for directory in all_dirs:
        kfile = kustomization_file(directory)
        if kfile is not None:
            referenced.update(references(kfile)[0])
    return [d for d in all_dirs if d not in referenced and not skipped(d) and not _is_component(d)]


def affected_overlays(files: Iterable[str | Path], root: str | Path = ".") -> list[Path]:
    """The overlays under ``root`` whose render reads one of ``files``."""
    changed = {Path(f).resolve() for f in files}
    return [o for o in discover_overlays(root) if changed & kustomization_inputs(o)]


def overlays_for(roots: Sequence[str]) -> list[str]:
    """`--all-overlays`: the overlays under each root directory, in order, without duplicates."""
    found: list[str] = []
    for root in roots:
        overlays = discover_overlays(root)
        if not overlays:
            raise UsageError(f"{display_path(root)}: --all-overlays found no kustomization.yaml below it")
        found += [str(o) for o in overlays]
    return list(dict.fromkeys(found))


def precommit_overlays(files: Sequence[str], root: str | Path = ".") -> list[str]:
    """The pre-commit hook's overlays: those under ``root`` (the repository) whose render reads a staged file."""
    root_path = Path(root)
    if (git_root := _git_root(root_path)) is not None:
        root_path = git_root
    return [str(o) for o in affected_overlays(files, root_path)]


def _git_root(start: Path) -> Path | None:
    for parent in (start.resolve(), *start.resolve().parents):
        if (parent / ".git").exists():
            return parent
    return None


def _kustomization_dirs(root: Path) -> list[Path]:
    found = []
    for here, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS)
        if any(n in names for n in KUSTOMIZATION_FILES):
            found.append(Path(here).resolve())
    return sorted(found)


def _is_component(directory: Path) -> bool:
    kfile = kustomization_file(directory)
    return kfile is not None and (first_mapping(str(kfile)) or {}).get("kind") == "Component"


def _configured_overlays(root: Path, patterns: list[str]) -> list[Path]:
    shown = display_path(root / CONFIG_FILE)
    out: list[Path] = []
    for pattern in patterns:
        glob = any(c in pattern for c in "*?[")
        matches = sorted(p for p in root.glob(pattern) if p.is_dir()) if glob else [root / pattern]
        if not matches:
            raise UsageError(f"{shown}: overlay pattern {pattern!r} matches no directory")
        for match in matches:
            if kustomization_file(match) is None:
                raise UsageError(f"{shown}: {display_path(match)} has no kustomization.yaml")
            out.append(match.resolve())
    return list(dict.fromkeys(out))
