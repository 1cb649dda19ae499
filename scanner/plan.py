"""The scan plan: which inputs a command covers, how each is loaded, and one scan per unit.

A directory is scanned as a repository: its Kustomize overlays are rendered (`scanner.load.kustomize` discovery),
the manifest files no kustomization reads are scanned as files, Helm charts are rendered (`scanner.load.helm`,
when `.kguard.yaml` turns helm on), and everything else is listed as not scanned with the reason. A file that a
kustomization reads (a resource, a patch, a generator source) is never scanned as an object: the overlays that
read it are rendered instead; a file inside a chart renders the chart.

Files named on the command line are part of something larger: the rest of their repository (or `--context`) is
loaded as inventory only, so rules that judge an object by others (NetworkPolicies, bindings) see the whole
picture while findings are reported only on the named files. Without any context those rules are not evaluated
and the report says so. Standard input is taken as complete.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scanner.config import CONFIG_FILE, HelmConfig, read_config
from scanner.engine.templates import TemplateSet
from scanner.errors import UsageError
from scanner.load.files import STDIN, LoadResult, display_path, load_paths, repo_root, walk_tree
from scanner.load.helm import CHART_FILE, Release, chart_of, helm_binary, load_release
from scanner.load.kustomize import (
    Discovery,
    discover,
    discover_roots,
    kustomization_file,
    kustomization_inputs,
    precommit_overlays,
)
from scanner.load.kustomize.inputs import references
from scanner.model import InputError, Resource, ScanResult, Skipped
from scanner.scan import ScanOptions, load_templates, run_settings, scan_resources

_RELEASE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(slots=True)
class Plan:
    """What to load: overlays to render, files, chart releases; what is not scanned (and why) and broken inputs."""

    overlays: list[Path] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    releases: list[Release] = field(default_factory=list)
    not_scanned: list[Skipped] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    named_files: bool = False  # files given by name: scanned with their repository as context
    repository: Path | None = None  # the repository of the named files
    # discoveries already made, by resolved root (the named files' repository): the context reuses them
    discoveries: dict[Path, Discovery] = field(default_factory=dict, repr=False, compare=False)

    def extend(self, other: Plan) -> None:
        self.overlays = _unique_dirs([*self.overlays, *other.overlays])
        self.files = list(dict.fromkeys([*self.files, *other.files]))
        self.releases = list(dict.fromkeys([*self.releases, *other.releases]))
        self.not_scanned += [s for s in other.not_scanned if s not in self.not_scanned]
        self.errors += [e for e in other.errors if e not in self.errors]
        self.named_files = self.named_files or other.named_files
        self.repository = self.repository or other.repository


def settings_root() -> Path:
    """Where `.kguard.yaml` paths start: the repository of the working directory, else the working directory."""
    return repo_root(str(Path.cwd())) or Path.cwd()


def chart_releases(chart: Path, helm: HelmConfig) -> tuple[list[Release], Skipped | None]:
    """The releases `.kguard.yaml` lists for ``chart`` (default: one with the chart's own values), or why the
    chart is not rendered."""
    shown = display_path(chart)
    if not helm.enabled:
        return [], Skipped(path=shown, reason="Helm chart: not rendered (Helm rendering is off: set "
                                              f"`helm: {{enabled: true}}` in {CONFIG_FILE})")
    if helm_binary() is None:
        return [], Skipped(path=shown, reason="Helm chart: not rendered (helm is not on PATH; install helm v3)")
    base = settings_root()
    default_name = chart.name if _RELEASE_NAME.match(chart.name) else "release-name"
    configured = [r for r in helm.releases if (base / r.chart).resolve() == chart.resolve()]
    if not configured:
        return [Release(chart=chart.resolve(), name=default_name, kube_version=helm.kube_version)], None
    return [Release(chart=chart.resolve(), name=r.name or default_name, namespace=r.namespace,
                    values=tuple((base / v).resolve() for v in r.values), kube_version=helm.kube_version)
            for r in configured], None


def check_releases(helm: HelmConfig) -> None:
    """UsageError when a `.kguard.yaml` release names no chart (it would never be rendered)."""
    if not helm.enabled:
        return
    base = settings_root()
    for i, release in enumerate(helm.releases):
        if not (base / release.chart / CHART_FILE).is_file():
            raise UsageError(f"{display_path(base / CONFIG_FILE)}: helm.releases[{i}].chart: {release.chart!r} is "
                             f"not a Helm chart directory (no {CHART_FILE})")
        for values in release.values:
            if not (base / values).is_file():
                raise UsageError(f"{display_path(base / CONFIG_FILE)}: helm.releases[{i}].values: {values!r} "
                                 "does not exist")


def _add_chart(plan: Plan, chart: Path, helm: HelmConfig) -> None:
    releases, why = chart_releases(chart, helm)
    plan.releases = list(dict.fromkeys([*plan.releases, *releases]))
    if why is not None and why not in plan.not_scanned:
        plan.not_scanned.append(why)


def _excluded(root: Path) -> tuple[str, tuple[str, ...]]:
    config = read_config(root)
    return config.source or CONFIG_FILE, config.exclude


def plan_directory(directory: str | Path, helm: HelmConfig, found: Discovery | None = None) -> Plan:
    """A directory as a repository: overlays rendered, files no kustomization reads, charts, the rest listed.

    ``found``: the directory's `discover` result when it is already known.
    """
    root = Path(directory).resolve()
    if (root / CHART_FILE).is_file():
        plan = Plan()
        _add_chart(plan, root, helm)
        return plan
    found = found if found is not None else discover(root)
    plan = Plan(overlays=list(found.overlays), not_scanned=list(found.skipped), errors=list(found.errors))
    source, patterns = _excluded(root)

    def skip_dir(path: Path) -> str | None:
        relative = path.resolve().relative_to(root).as_posix()
        hit = next((p for p in patterns if fnmatch.fnmatch(relative, p.rstrip("/"))), None)
        return None if hit is None else f"excluded by {source} exclude: {hit}"

    walked = LoadResult()
    files, charts = walk_tree(root, walked, skip_dir)
    plan.not_scanned += walked.skipped
    plan.errors += walked.errors
    for file in files:
        readers = found.readers.get(file.resolve())
        if not readers:
            plan.files.append(str(file))
        elif not any(r in found.rendered for r in readers) and kustomization_file(file.parent) != file:
            plan.not_scanned.append(_unrendered_input(file, readers, found))
    for chart in charts:
        _add_chart(plan, chart, helm)
    return plan


def _unrendered_input(file: Path, readers: list[Path], found: Discovery) -> Skipped:
    reader = readers[0]
    kfile = kustomization_file(reader)
    return Skipped(path=display_path(file),
                   reason=f"read by {display_path(kfile or reader)}, which is not rendered "
                          f"({found.not_rendered_reason(reader)}): not scanned as an object")


def plan_paths(paths: Sequence[str], helm: HelmConfig, *, kustomize: Sequence[str] = (),
               all_overlays: bool = False) -> Plan:
    """The plan for `kguard scan PATH ... [--kustomize DIR] [--all-overlays]`.

    ``all_overlays``: directory PATHs (default .) are roots searched for overlays only (the original mode).
    """
    check_releases(helm)
    plan = Plan()
    if all_overlays:
        roots = [p for p in paths if Path(p).is_dir()] or ([] if paths else ["."])
        paths = [p for p in paths if p not in roots]
        found = discover_roots(roots)
        plan.extend(Plan(overlays=list(found.overlays), not_scanned=list(found.skipped), errors=list(found.errors)))
    discoveries: dict[Path, Discovery] = {}
    for raw in paths:
        path = Path(raw)
        if raw == STDIN or not path.exists():
            plan.files.append(raw)  # the loader reads stdin and reports a missing path
        elif path.is_dir():
            plan.extend(plan_directory(path, helm))
        else:
            plan.extend(_plan_file(path, raw, helm, discoveries))
    plan.overlays = _unique_dirs([*plan.overlays, *(Path(k) for k in kustomize)])
    plan.discoveries.update(discoveries)
    return plan


def _unique_dirs(dirs: Sequence[Path]) -> list[Path]:
    """``dirs`` without repeats of one directory (however it was written), first spelling kept."""
    seen: dict[Path, Path] = {}
    for directory in dirs:
        seen.setdefault(directory.resolve(), directory)
    return list(seen.values())


def _plan_file(path: Path, raw: str, helm: HelmConfig, discoveries: dict[Path, Discovery]) -> Plan:
    """One named file: the chart it belongs to, the overlays that read it, or the file itself."""
    plan = Plan(named_files=True, repository=repo_root(str(path.resolve().parent)))
    chart = chart_of(path)
    if chart is not None:
        _add_chart(plan, chart, helm)
        return plan
    target = path.resolve()
    if plan.repository is not None:
        if plan.repository not in discoveries:
            discoveries[plan.repository] = discover(plan.repository)
        found = discoveries[plan.repository]
        readers = found.readers.get(target)
        if readers:
            affected = [o for o in found.overlays if target in kustomization_inputs(o)]
            affected += [d for d in found.broken if kustomization_file(d) == target]
            if affected:
                plan.overlays = affected
            else:
                plan.not_scanned.append(_unrendered_input(path, readers, found))
            return plan
    else:
        kfile = kustomization_file(target.parent)
        if kfile is not None and (kfile == target or target in references(kfile)[1]):
            plan.overlays = [target.parent]
            return plan
    plan.files.append(raw)
    return plan


def without_overlays(plan: Plan) -> Plan:
    """``plan`` with its overlays listed as not scanned (`--no-overlays`: CI scans each in a job of its own)."""
    skipped = [Skipped(path=display_path(kustomization_file(o.resolve()) or o),
                       reason="overlay: not rendered in this run (--no-overlays)") for o in plan.overlays]
    return dataclasses.replace(plan, overlays=[], not_scanned=[*plan.not_scanned, *skipped])


def plan_precommit(files: Sequence[str], helm: HelmConfig) -> Plan:
    """The `precommit-kustomize` hook: the overlays whose render reads a staged file, and the charts of staged
    chart files (templates, values, helpers)."""
    plan = Plan(overlays=[Path(o) for o in precommit_overlays(files)])
    for file in files:
        chart = chart_of(Path(file))
        if chart is not None:
            _add_chart(plan, chart, helm)
            plan.named_files, plan.repository = True, repo_root(str(chart))
    return plan


def _render(dirs: Sequence[str], *, deferred_blame: bool) -> list[LoadResult]:
    """`load_overlays`, imported only when there is an overlay (rendering with blame is a large part of the loader
    that a scan of plain files, as the pre-commit hook's, never needs)."""
    if not dirs:
        return []
    from scanner.load.kustomize import load_overlays

    return load_overlays(dirs, deferred_blame=deferred_blame)


def load_plan_files(plan: Plan) -> LoadResult:
    """The files and chart releases of ``plan``, loaded into one result."""
    loaded = load_paths(plan.files)
    counts: dict[str, int] = {}
    for release in plan.releases:
        loaded.extend(load_release(release, counts))
    loaded.scanned = list(dict.fromkeys(loaded.scanned))  # a chart rendered for several releases is one input
    return loaded


def load_context(paths: Sequence[str | Path], helm: HelmConfig, scanned: set[str], *, rendered: bool = True,
                 charts: bool = True, discoveries: dict[Path, Discovery] | None = None
                 ) -> tuple[list[Resource], list[Skipped]]:
    """Objects of ``paths`` (directories as repositories) for the inventory only, without the ``scanned`` paths'
    own objects; inputs that do not load are noted (they are not what is being scanned).

    ``rendered=False`` (the implicit repository context of named files, on every pre-commit run) renders no
    overlay: overlays are environments of their own, scanned as their own units, and rendering them all would make
    the hook slow; ``charts`` says whether the chart releases are rendered (they are when a chart is what is being
    scanned: its releases are each other's context). Named with --context (or `.kguard.yaml` `context:`) everything
    is rendered. ``discoveries``: `Plan.discoveries` of the plan being scanned (not discovered again).
    """
    context = Plan()
    for path in paths:
        if Path(path).is_dir():
            context.extend(plan_directory(path, helm, (discoveries or {}).get(Path(path).resolve())))
        else:
            context.extend(plan_paths([str(path)], helm))
    if not rendered:
        context = dataclasses.replace(context, overlays=[], releases=context.releases if charts else [])
    resources: list[Resource] = []
    problems: list[InputError] = list(context.errors)
    for loaded in [*_render([str(o) for o in context.overlays], deferred_blame=True),
                   load_plan_files(dataclasses.replace(context, named_files=False))]:
        resources += [r for r in loaded.resources if r.path not in scanned]
        problems += loaded.errors
    notes = [Skipped(path=e.path, line=e.line, reason=f"not loaded as context: {e.message}") for e in problems]
    return resources, notes


def scan_overlays(dirs: Sequence[str | Path], options: ScanOptions, *, deferred_blame: bool = False,
                  not_scanned: Sequence[Skipped] = (), errors: Sequence[InputError] = (),
                  templates: TemplateSet | None = None) -> list[ScanResult]:
    """One ScanResult per overlay, category `kguard/<overlay path>`; a failed render is an error of that overlay.

    ``deferred_blame`` (the pre-commit hook) renders with build metadata only overlays that have findings.
    ``not_scanned`` and ``errors`` (from discovery) are added to the first overlay's result.
    """
    shown = [str(d) for d in dirs]
    results = scan_loaded_overlays(shown, _render(shown, deferred_blame=deferred_blame), options,
                                   templates if templates is not None else load_templates(options))
    if results:
        results[0].skipped += not_scanned
        results[0].input_errors += errors
    return results


def scan_loaded_overlays(dirs: Sequence[str], rendered: Sequence[LoadResult], options: ScanOptions,
                         templates: TemplateSet) -> list[ScanResult]:
    """`scan_overlays` of overlays already rendered: each is the whole picture of its own objects."""
    results = []
    for directory, loaded in zip(dirs, rendered, strict=True):
        opts = dataclasses.replace(options, category=f"kguard/{display_path(directory)}")
        if not loaded.resources:
            rules = sorted((t.rule for t in templates.templates.values() if t.rule), key=lambda r: r.id)
            results.append(ScanResult(findings=[], scanned=loaded.scanned, skipped=loaded.skipped,
                                      input_errors=loaded.errors, rules=rules, category=opts.category,
                                      settings=run_settings(opts, [])))
            continue
        results.append(scan_resources(loaded.resources, opts, loaded=loaded, templates=templates))
    return results


def context_paths(plan: Plan, options: ScanOptions, given: Sequence[str]) -> list[Path] | None:
    """What is loaded as context: --context, else `.kguard.yaml` `context:`, else the named files' repository;
    None when there is nothing (or nothing to give context to)."""
    if given:
        return [Path(p) for p in given]
    if not plan.named_files:
        return None
    if options.config.context is not None:
        return [settings_root() / p for p in options.config.context]
    return [plan.repository] if plan.repository is not None else None


def scan_plan(plan: Plan, options: ScanOptions, *, context: Sequence[str] = (),
              deferred_blame: bool = False) -> list[ScanResult]:
    """Scan every unit of ``plan``: the files and charts together (with their context), then each overlay."""
    templates = load_templates(options)  # policy problems are usage errors: fail before reading input
    dirs = [str(o) for o in plan.overlays]
    rendered = _render(dirs, deferred_blame=deferred_blame)
    results: list[ScanResult] = []
    if plan.files or plan.releases or not plan.overlays:
        loaded = load_plan_files(plan)
        where = context_paths(plan, options, context)
        # the overlays are environments of their own (a repository may render one environment both ways, as this
        # one does with Kustomize and Helm): they are not the files' context unless named with --context
        others: list[Resource] = []
        if where is not None and loaded.resources:
            scanned = {r.path for r in loaded.resources}
            explicit = bool(context) or options.config.context is not None
            from_context, notes = load_context(where, options.config.helm, scanned, rendered=explicit,
                                               charts=bool(plan.releases), discoveries=plan.discoveries)
            # a scanned object supersedes its copy in the context (the staged version of a committed file, a chart
            # that renders what an overlay also renders): the context only adds the other objects
            identities = {r.identity for r in loaded.resources}
            others += [r for r in from_context if r.identity not in identities]
            loaded.skipped += notes
        results.append(scan_resources(loaded.resources, options, loaded=loaded, templates=templates,
                                      inventory_from=[*loaded.resources, *others] if others else None,
                                      partial=plan.named_files and where is None))
    results += scan_loaded_overlays(dirs, rendered, options, templates)
    results[0].skipped += plan.not_scanned
    results[0].input_errors += plan.errors
    return results
