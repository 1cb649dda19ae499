"""Scan one revision of a repository as `kguard scan .` does, keeping each unit's objects for the deltas.

A unit is what one ScanResult covers: one rendered overlay (category `kguard/<overlay>`), or the plain files and
Helm charts together (category `kguard`). A unit of the second revision whose inputs the change does not touch is
taken over from the first instead of being rendered and evaluated again, when both revisions' `.kguard.yaml`
settings are equal: same inputs, settings and policies give the same result.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from scanner.config import Config, repository_config
from scanner.load.files import display_path
from scanner.load.kustomize import kustomization_inputs, load_overlays
from scanner.model import InputError, Resource, ScanResult, Skipped
from scanner.plan import Plan, load_plan_files, plan_directory
from scanner.scan import ScanOptions, load_templates, scan_resources

FILES_UNIT = "kguard"


@dataclass(slots=True)
class Unit:
    """One scanned unit: its result, the objects it read and the repository-relative inputs it depends on."""

    key: str
    result: ScanResult
    resources: list[Resource]
    inputs: frozenset[str]
    reused: bool = False


@dataclass(slots=True)
class Snapshot:
    """One revision, scanned: its units by key, and its problems (discovery errors, inputs not scanned)."""

    label: str
    units: dict[str, Unit] = field(default_factory=dict)
    errors: list[InputError] = field(default_factory=list)
    config: Config | None = None  # its .kguard.yaml, parsed


@contextmanager
def inside(directory: Path) -> Iterator[None]:
    """Run with ``directory`` as the working directory: report paths are relative to its repository."""
    before = Path.cwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(before)


def _touched(inputs: frozenset[str], changed: set[str]) -> bool:
    """Whether a changed path is one of ``inputs`` or lies under one of them (a chart directory ends in '/')."""
    return any(path in inputs or any(i.endswith("/") and path.startswith(i) for i in inputs) for path in changed)


def _without_ignored(plan: Plan, root: Path) -> Plan:
    """``plan`` without the files and charts git ignores: they belong to no revision (a working tree may hold
    build output or reports that the other revision's worktree lacks)."""
    from scanner.diff.git import ignored

    shown = {display_path(f): f for f in plan.files}
    charts = {display_path(r.chart): r for r in plan.releases}
    hidden = ignored(root, sorted({*shown, *charts}))
    if not hidden:
        return plan
    plan.files = [f for name, f in shown.items() if name not in hidden]
    plan.releases = [r for r in plan.releases if display_path(r.chart) not in hidden]
    plan.not_scanned += [Skipped(path=name, reason="ignored by git (.gitignore): part of no revision")
                         for name in sorted(hidden)]
    return plan


def _files_inputs(plan: Plan) -> frozenset[str]:
    charts = {display_path(release.chart).rstrip("/") + "/" for release in plan.releases}
    values = {display_path(v) for release in plan.releases for v in release.values}
    return frozenset({display_path(f) for f in plan.files} | charts | values)


def scan_tree(root: Path, label: str, make_options: Callable[[Config], ScanOptions], *,
              previous: Snapshot | None = None, changed: set[str] | None = None) -> Snapshot:
    """Scan the repository at ``root``; units of ``previous`` whose inputs are not in ``changed`` are reused."""
    snapshot = Snapshot(label=label)
    with inside(root):
        config = repository_config()
        options = make_options(config)
        plan = _without_ignored(plan_directory(root, config.helm), root)
        snapshot.errors = list(plan.errors)
        snapshot.config = config
        # same settings (a .kguard.yaml edit that changes none, e.g. a comment, does not count)
        reusable = (previous is not None and changed is not None and previous.config is not None
                    and dataclasses.replace(previous.config, source=None) == dataclasses.replace(config, source=None))

        def reuse(key: str, inputs: frozenset[str]) -> Unit | None:
            if not reusable or previous is None or changed is None:
                return None
            old = previous.units.get(key)
            if old is None or old.inputs != inputs or _touched(inputs, changed):
                return None
            return dataclasses.replace(old, reused=True)

        templates = None

        def templates_once():  # type: ignore[no-untyped-def]
            nonlocal templates
            if templates is None:
                templates = load_templates(options)
            return templates

        if plan.files or plan.releases or not plan.overlays:
            inputs = _files_inputs(plan)
            unit = reuse(FILES_UNIT, inputs)
            if unit is None:
                loaded = load_plan_files(plan)
                result = scan_resources(loaded.resources, options, loaded=loaded, templates=templates_once())
                unit = Unit(FILES_UNIT, result, list(loaded.resources), inputs)
            snapshot.units[FILES_UNIT] = unit
        pending: list[tuple[str, str, frozenset[str]]] = []
        for overlay in plan.overlays:
            key = f"kguard/{display_path(overlay)}"
            inputs = frozenset(display_path(p) for p in kustomization_inputs(overlay))
            unit = reuse(key, inputs)
            if unit is not None:
                snapshot.units[key] = unit
            else:
                pending.append((key, str(overlay), inputs))
        for (key, _directory, inputs), loaded in zip(pending, load_overlays([d for _, d, _ in pending]),
                                                    strict=True):
            opts = dataclasses.replace(options, category=key)
            if loaded.resources:
                result = scan_resources(loaded.resources, opts, loaded=loaded, templates=templates_once())
            else:
                result = ScanResult(findings=[], scanned=loaded.scanned, skipped=loaded.skipped,
                                    input_errors=loaded.errors, category=key)
            snapshot.units[key] = Unit(key, result, list(loaded.resources), inputs)
    snapshot.units = dict(sorted(snapshot.units.items()))
    return snapshot
