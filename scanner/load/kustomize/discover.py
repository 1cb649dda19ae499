"""Which overlays to scan: discovery under a root (or the `.kguard.yaml` list), `--all-overlays`, and the
pre-commit hook's overlays affected by the staged files.

Only kustomizations that are built count as referencing another one. The overlays (roots) are the
kustomizations no *scanned* kustomization reaches; everything scanned is a root or reached from one. A
Component, an excluded or hidden kustomization, a broken one or a self-reference therefore cannot hide an overlay
by listing it. Every kustomization that is not scanned as an overlay is reported as a `Skipped` with the reason.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scanner.config import CONFIG_FILE, Config, read_config
from scanner.errors import UsageError
from scanner.load.files import display_path, repo_root
from scanner.load.kustomize.inputs import (
    KustomizationError,
    kustomization_inputs,
    read_kustomization,
    reference_entries,
    references,
)
from scanner.load.kustomize.render import KUSTOMIZATION_FILES, kustomization_file
from scanner.model import InputError, Skipped

SKIP_DIRS = {".git", "node_modules", "__pycache__", "venv", ".venv", ".tox", ".nox", ".mypy_cache", ".ruff_cache",
             ".pytest_cache"}


@dataclass(slots=True)
class Discovery:
    """The overlays to scan, the kustomizations that are not scanned on their own (and why), broken ones."""

    overlays: list[Path] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    broken: list[Path] = field(default_factory=list)  # directories of the kustomizations in ``errors``
    rendered: set[Path] = field(default_factory=set)  # the overlays and every kustomization they build on
    readers: dict[Path, list[Path]] = field(default_factory=dict)  # file -> kustomization directories reading it

    def extend(self, other: Discovery) -> None:
        self.overlays = list(dict.fromkeys([*self.overlays, *other.overlays]))
        self.skipped += [s for s in other.skipped if s not in self.skipped]
        self.errors += [e for e in other.errors if e not in self.errors]
        self.broken = list(dict.fromkeys([*self.broken, *other.broken]))
        self.rendered |= other.rendered
        for file, readers in other.readers.items():
            self.readers[file] = list(dict.fromkeys([*self.readers.get(file, []), *readers]))

    def not_rendered_reason(self, directory: Path) -> str:
        """Why the kustomization in ``directory`` is not rendered (its `Skipped` reason)."""
        kfile = kustomization_file(directory)
        shown = display_path(kfile) if kfile else display_path(directory)
        return next((s.reason for s in self.skipped if s.path == shown), "not an overlay")


@dataclass(slots=True)
class _Node:
    directory: Path
    kfile: Path
    refs: list[Path]  # kustomization directories it builds on (resources, bases, components), itself excluded
    component: bool = False
    broken: KustomizationError | None = None


def discover(root: str | Path) -> Discovery:
    """Overlays under ``root`` and what is not scanned.

    ``root/.kguard.yaml`` may list the overlays (`overlays:`, in that order); otherwise the roots of the graph of
    built kustomizations, sorted, where Components, broken kustomizations, those in hidden directories and those
    matching an `exclude:` glob (relative to ``root``; a match excludes the subtree) are never roots.
    """
    root_path = Path(root).resolve()
    config = read_config(root_path)
    found = _kustomization_dirs(root_path)
    graph = _graph(found)
    not_root = {d: reason for d in found if (reason := _not_root_reason(d, root_path, config, graph[d]))}
    if config.overlays is not None:
        overlays = _configured_overlays(root_path, list(config.overlays))
        listed = f"not listed in {config.source or CONFIG_FILE} overlays:"
        not_root = {d: not_root.get(d, listed) for d in found if d not in overlays}
    else:
        overlays = _roots(graph, [d for d in found if d not in not_root])
    reached_from = _reached_from(graph, overlays)
    out = Discovery(overlays=overlays, rendered={*overlays, *reached_from}, readers=_readers(graph))
    for directory in found:
        if directory in overlays:
            continue
        node = graph[directory]
        shown = display_path(node.kfile)
        if directory in reached_from:
            users = ", ".join(display_path(o) for o in reached_from[directory])
            reason = f"{'component of' if node.component else 'base of'} {users}"
        else:
            reason = not_root[directory]
            if node.broken is not None and reason.startswith("broken"):
                out.errors.append(InputError(path=shown, line=node.broken.line,
                                             message=f"invalid kustomization: {node.broken.message}"))
                out.broken.append(directory)
        out.skipped.append(Skipped(path=shown, reason=reason))
    return out


def _readers(graph: dict[Path, _Node]) -> dict[Path, list[Path]]:
    """Every file a kustomization reads (itself, resources, patches, generator sources) -> its readers."""
    out: dict[Path, list[Path]] = {}
    for directory in sorted(graph):
        for file in [graph[directory].kfile.resolve(), *references(graph[directory].kfile)[1]]:
            out.setdefault(file, []).append(directory)
    return out


def discover_overlays(root: str | Path) -> list[Path]:
    """The overlays of `discover`."""
    return discover(root).overlays


def affected_overlays(files: Iterable[str | Path], root: str | Path = ".") -> list[Path]:
    """The overlays under ``root`` whose render reads one of ``files``, and broken kustomizations among ``files``
    (rendering them reports the error)."""
    changed = {Path(f).resolve() for f in files}
    found = discover(root)
    broken = [d for d in found.broken if kustomization_file(d) in changed]
    return [o for o in found.overlays if changed & kustomization_inputs(o)] + broken


def discover_roots(roots: Sequence[str]) -> Discovery:
    """`--all-overlays`: `discover` for each root directory, merged in order without duplicates."""
    found = Discovery()
    for root in roots:
        here = discover(root)
        if not here.overlays:
            detail = f" ({len(here.skipped)} kustomization(s) not scanned, e.g. {here.skipped[0].path}: " \
                     f"{here.skipped[0].reason})" if here.skipped else ""
            raise UsageError(f"{display_path(root)}: --all-overlays found no overlay below it{detail}")
        found.extend(here)
    return found


def overlays_for(roots: Sequence[str]) -> list[str]:
    """The overlay directories of `discover_roots`."""
    return [str(o) for o in discover_roots(roots).overlays]


def precommit_overlays(files: Sequence[str], root: str | Path = ".") -> list[str]:
    """The pre-commit hook's overlays: those under ``root`` (the repository) whose render reads a staged file."""
    root_path = Path(root)
    return [str(o) for o in affected_overlays(files, repo_root(str(root_path.resolve())) or root_path)]


def _kustomization_dirs(root: Path) -> list[Path]:
    found = []
    for here, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        if any(n in names for n in KUSTOMIZATION_FILES):
            found.append(Path(here).resolve())
    return sorted(found)


def _graph(found: list[Path]) -> dict[Path, _Node]:
    """Every kustomization under the root and every one they reference (also outside the root), by directory."""
    graph: dict[Path, _Node] = {}
    pending = list(found)
    while pending:
        directory = pending.pop()
        kfile = kustomization_file(directory)
        if directory in graph or kfile is None:
            continue
        node = _Node(directory, kfile, [])
        try:
            node.component = read_kustomization(kfile).value.get("kind") == "Component"
            reference_entries(kfile)  # entries of the wrong type make it broken too
        except KustomizationError as exc:
            node.broken = exc
        node.refs = sorted({d for d in references(kfile)[0] if d != directory and kustomization_file(d)})
        graph[directory] = node
        pending += node.refs
    return graph


def _not_root_reason(directory: Path, root: Path, config: Config, node: _Node) -> str | None:
    relative = directory.relative_to(root).as_posix()
    for pattern in config.exclude:
        if fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(relative, f"{pattern.rstrip('/')}/*"):
            return f"excluded by {config.source or CONFIG_FILE} exclude: {pattern}"
    hidden = next((p for p in Path(relative).parts if p.startswith(".") and p != "."), None)
    if hidden is not None:
        return f"in the hidden directory {hidden}"
    if node.broken is not None:
        where = f"line {node.broken.line}: " if node.broken.line else ""
        return f"broken: {where}{node.broken.message}"
    if node.component:
        return "component (no scanned overlay uses it)"
    return None


def _roots(graph: dict[Path, _Node], candidates: list[Path]) -> list[Path]:
    """The candidates that no other root reaches, sorted.

    Strongly connected components are visited sources first; one that a scanned component reaches is scanned
    through it, otherwise its candidates become roots (a cycle of candidates: all of them, so kustomize reports
    the cycle). References from kustomizations that are never built do not count.
    """
    allowed = set(candidates)
    scanned: set[Path] = set()
    roots: list[Path] = []
    for component in _components_sources_first(graph):
        members = set(component)
        entered = any(ref in members for d in scanned if d not in members for ref in graph[d].refs)
        if not entered:
            new_roots = sorted(d for d in component if d in allowed)
            if not new_roots:
                continue
            roots += new_roots
        scanned |= members
    return sorted(roots)


def _components_sources_first(graph: dict[Path, _Node]) -> list[list[Path]]:
    """Tarjan's strongly connected components (iterative), in topological order of the condensation."""
    index: dict[Path, int] = {}
    low: dict[Path, int] = {}
    on_stack: set[Path] = set()
    stack: list[Path] = []
    out: list[list[Path]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(graph[start].refs))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next((c for c in children if c in graph), None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child].refs)))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                members = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.append(member)
                    if member == node:
                        break
                out.append(sorted(members))
    return out[::-1]


def _reached_from(graph: dict[Path, _Node], overlays: list[Path]) -> dict[Path, list[Path]]:
    """For every kustomization an overlay builds on (transitively), the overlays that do, in overlay order."""
    reached: dict[Path, list[Path]] = {}
    for overlay in overlays:
        seen = {overlay}
        pending = list(graph[overlay].refs) if overlay in graph else []
        while pending:
            directory = pending.pop()
            if directory in seen:
                continue
            seen.add(directory)
            reached.setdefault(directory, []).append(overlay)
            pending += graph[directory].refs if directory in graph else []
    return reached


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
