"""The one orchestrator a library user calls: policies + resources -> ScanResult."""

from __future__ import annotations

import dataclasses
import fnmatch
import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scanner.config import Config, PodSecurityConfig, split_patterns
from scanner.engine.catalogue import (
    PSS_LEVELS,
    Rule,
    default_policy_dir,
    library_digest,
    load_catalogue,
    select_policies,
)
from scanner.engine.engines import make_backend
from scanner.engine.evaluate import evaluate
from scanner.engine.expand import implied_pods, parse_spec
from scanner.engine.match import kinds_match
from scanner.engine.review import apply_default_namespace
from scanner.engine.templates import TemplateSet, add_template_objects, from_policy
from scanner.errors import UsageError
from scanner.load import forked
from scanner.load.files import LoadResult, display_path, load_paths
from scanner.model import Finding, Resource, ScanResult, Severity, Skipped
from scanner.suppress import apply_inline
from scanner.workloads import CONTAINER_PATHS, value_at

# From this many objects on, the whole-graph analyses run in a forked child meanwhile (`_start_analyses`): below it
# they take a few milliseconds, about what forking costs (4,500 objects: 60 ms). Above the maximum they run here
# after evaluation: the pages the child copies (it touches every object) would raise the run's peak memory (PSS
# summed over processes: a 20,148-object live audit 214 -> 263 MB, a 50,000-object scan 290 -> 301 MB).
FORKED_ANALYSES_MIN_OBJECTS = 2000
FORKED_ANALYSES_MAX_OBJECTS = 10000


@dataclass(slots=True, kw_only=True)
class ScanOptions:
    policy_dir: Path | None = None  # None: the repository's policies/ or the bundled copy
    template_dirs: Sequence[str] = ()
    default_policies: bool = True
    pss_level: str | None = None  # level of unlabelled namespaces; None: the config's (default restricted)
    config: Config = field(default_factory=Config)  # the repository's .kguard.yaml (library users: defaults)
    select: Sequence[str] = ()
    ignore: Sequence[str] = ()
    default_namespace: str = "default"
    engine: str = "regorus"
    opa_url: str | None = None
    workers: int | None = None
    timeout: float = 10.0
    category: str = "kguard"
    pod_template_paths: Sequence[str] = ()  # KIND=PATH: custom workload kinds (added to the config's), implied Pods
    analyses: bool = True  # whole-graph analyses (scanner/analysis/); like the catalogue, off with no default policies
    graphs: bool = False  # also export the reachability and RBAC graphs (ScanResult.graphs) for the HTML report
    on_progress: Callable[[int], None] | None = field(default=None, repr=False)
    on_total: Callable[[int], None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.pss_level is not None and self.pss_level not in PSS_LEVELS:
            raise UsageError(f"--pss-level must be one of {', '.join(PSS_LEVELS)}, not {self.pss_level!r}")
        # options that would evaluate nothing (or hang) are usage errors, never a green run
        if self.workers is not None and (isinstance(self.workers, bool) or self.workers < 1):
            raise UsageError(f"--workers must be at least 1, not {self.workers}")
        if not 0 < self.timeout < float("inf"):
            raise UsageError(f"--policy-timeout must be a positive number of seconds, not {self.timeout:g}")
        if self.opa_url is not None and self.engine != "opa":
            raise UsageError("--opa-url is the OPA server of --engine opa; add --engine opa (or drop --opa-url)")
        # rule patterns: comma lists allowed; the command line's list replaces the .kguard.yaml one
        self.select = split_patterns(self.select) or self.config.select
        self.ignore = split_patterns(self.ignore) or self.config.ignore
        # custom workload kinds: the .kguard.yaml ones for every entry point, plus the command line's
        self.pod_template_paths = tuple(dict.fromkeys([*self.config.pod_template_paths, *self.pod_template_paths]))
        for text in self.pod_template_paths:
            parse_spec(text)  # fail early on a malformed KIND=PATH

    @property
    def pod_security(self) -> PodSecurityConfig:
        """The Pod Security settings in force: --pss-level over the config's default level."""
        configured = self.config.pod_security
        if self.pss_level is None:
            return configured
        return PodSecurityConfig(default_level=self.pss_level, exempt_namespaces=configured.exempt_namespaces)


def _selected(rule: Rule, select: Sequence[str], ignore: Sequence[str]) -> bool:
    def hit(patterns: Sequence[str]) -> bool:
        return any(fnmatch.fnmatchcase(rule.id, p) or p == rule.kind or p == rule.category for p in patterns)

    return (not select or hit(select)) and not hit(ignore)


rule_selected = _selected  # whether --select/--ignore keep a rule (the audit decides on analyses with it)


def load_templates(options: ScanOptions) -> TemplateSet:
    """The catalogue (unless --no-default-policies) plus --templates, filtered by --select/--ignore."""
    templates = TemplateSet()
    catalogue = load_catalogue(options.policy_dir or default_policy_dir()) if options.default_policies else []
    # linked anew over the selection: ignoring a restricted check brings back the baseline check it replaces
    for policy in select_policies(catalogue, lambda rule: _selected(rule, options.select, options.ignore)):
        template, constraints = from_policy(policy, options.pod_security)
        templates.add(template, constraints)
    if options.template_dirs:
        loaded = load_paths(list(options.template_dirs))
        if loaded.errors:
            raise UsageError(str(loaded.errors[0]))
        add_template_objects(loaded.resources, templates)
    known = [*(p.rule for p in catalogue), *(t.rule for t in templates.templates.values() if t.rule)]
    if options.analyses and options.default_policies:
        from scanner.analysis import analysis_rules

        known.extend(analysis_rules())
    for pattern in [*options.select, *options.ignore]:
        if not any(_selected(rule, [pattern], []) for rule in known):
            where = "select/ignore" if pattern in [*options.config.select, *options.config.ignore] else ""
            origin = f"{options.config.source} `{where}`" if where else "--select/--ignore"
            raise UsageError(f"{origin} {pattern!r} matches no rule (see `kguard rules`)")
    overrides = dict(options.config.severity_overrides)
    unknown = sorted(set(overrides) - {rule.id for rule in known})
    if unknown:
        raise UsageError(f"{options.config.source}: `severityOverrides` names no rule {unknown[0]!r} "
                         "(see `kguard rules`)")
    if overrides:
        templates.templates = {k: t if t.rule is None else dataclasses.replace(t, rule=overridden(t.rule, overrides))
                               for k, t in templates.templates.items()}
    keep = {kind for kind, t in templates.templates.items()
            if t.rule is None or _selected(t.rule, options.select, options.ignore)}
    return TemplateSet(templates={k: v for k, v in templates.templates.items() if k in keep},
                       constraints=[c for c in templates.constraints if c.kind in keep])


def overridden(rule: Rule, overrides: dict[str, Severity]) -> Rule:
    """``rule`` with the severity `.kguard.yaml` `severityOverrides` gives it (and no baseline floor then)."""
    if rule.id not in overrides:
        return rule
    return dataclasses.replace(rule, severity=overrides[rule.id], baseline_severity=None)


def scan_resources(resources: list[Resource], options: ScanOptions, *, loaded: LoadResult | None = None,
                   templates: TemplateSet | None = None, inventory_from: list[Resource] | None = None,
                   partial: bool = False, graph_from: list[Resource] | None = None) -> ScanResult:
    """Evaluate ``resources`` (already loaded) and gather everything a report needs.

    ``inventory_from``: build `data.inventory` from these objects instead of ``resources`` (live audits, the
    repository as context of a file scan). ``graph_from``: what the whole-graph analyses see, when that is more than
    ``inventory_from`` (a live audit syncs only the kinds its templates need, as Gatekeeper does). ``partial``:
    ``resources`` are known to be only part of what is deployed and no context was given, so the rules that judge
    an object by others (templates reading `data.inventory`, the whole-graph analyses) are not evaluated and the
    report says so instead of claiming a gap.
    """
    # The loaded objects (millions of Python objects for a large repository) live until the report is written:
    # the garbage collector leaves them out of its full collections, which otherwise walk all of them again and
    # again while evaluation and reporting allocate (the runner freezes them as well before forking its workers).
    gc.freeze()
    result = _scan_resources(resources, options, loaded, templates, inventory_from, partial, graph_from)
    gc.freeze()  # the findings too, while the reports (millions of new objects at 50,000 objects) are built
    return result


def _scan_resources(resources: list[Resource], options: ScanOptions, loaded: LoadResult | None,
                    templates: TemplateSet | None, inventory_from: list[Resource] | None, partial: bool,
                    graph_from: list[Resource] | None) -> ScanResult:
    templates = templates if templates is not None else load_templates(options)
    unjudged: list[Skipped] = []
    if partial:
        templates, unjudged = _without_referential_rules(templates, options, loaded)
        if options.analyses and options.default_policies:  # self-contained analyses (posture) still run
            ignored = [r.id for r in _context_analysis_rules(options)]
            options = dataclasses.replace(options, ignore=(*options.ignore, *ignored))
    apply_default_namespace(resources, options.default_namespace)
    expansions = [parse_spec(text) for text in options.pod_template_paths]
    implied = implied_pods(resources, expansions)
    graph_from = graph_from if graph_from is not None else inventory_from
    analysing = _start_analyses(resources, options, graph_from)
    backend = make_backend(options.engine, options.opa_url)
    try:
        evaluation = evaluate(
            [*resources, *implied], templates, backend, timeout=options.timeout,
            workers=options.workers, on_progress=options.on_progress,
            on_total=options.on_total, inventory_from=inventory_from,
        )
    except BaseException:
        if analysing is not None:
            analysing.discard()
        raise
    finally:
        backend.close()
    analysis_findings, analysis_rules = _analysed(analysing, resources, options, graph_from)
    loaded = loaded or LoadResult()
    findings, suppression_errors = apply_inline([*evaluation.findings, *analysis_findings], resources,
                                                policy=options.config.suppressions)
    return ScanResult(
        findings=findings,
        scanned=list(loaded.scanned),
        resources=len(resources),
        skipped=list(loaded.skipped),
        input_errors=[*loaded.errors, *suppression_errors],
        policy_errors=evaluation.errors,
        not_evaluated=[*evaluation.not_evaluated, *unjudged_pod_templates(resources, implied, templates),
                       *unjudged],
        rules=sorted([*(t.rule for t in templates.templates.values() if t.rule), *analysis_rules], key=lambda r: r.id),
        category=options.category,
        settings=run_settings(options, findings),
        graphs=_graphs(resources, options, graph_from),
    )


def _graphs(resources: list[Resource], options: ScanOptions, inventory_from: list[Resource] | None
            ) -> dict[str, object]:
    """The analyses' graphs over every object read, when asked for (`ScanOptions.graphs`)."""
    if not options.graphs:
        return {}
    from scanner.analysis.graphs import graph_data

    return graph_data(inventory_from if inventory_from is not None else resources)


def _context_analysis_rules(options: ScanOptions) -> list[Rule]:
    """The selected rules of the analyses that judge an object by others (reachability, RBAC escalation)."""
    from scanner.analysis import context_analysis_rules

    return [r for r in context_analysis_rules() if _selected(r, options.select, options.ignore)]


def _without_referential_rules(templates: TemplateSet, options: ScanOptions, loaded: LoadResult | None
                               ) -> tuple[TemplateSet, list[Skipped]]:
    """``templates`` without those reading `data.inventory`, and one not-evaluated entry per scanned input naming
    them and the analyses' rules."""
    # a template that declares what it reads (the catalogue's `sync:`, Gatekeeper's requires-sync-data) needs
    # context only when that is something; an undeclared one whenever it reads `data.inventory` at all
    referential = {kind for kind, t in templates.templates.items()
                   if t.requires_sync or (t.requires_sync is None and t.uses_inventory)}
    rule_ids = sorted({t.rule.id if t.rule else kind for kind, t in templates.templates.items() if kind in referential})
    if options.analyses and options.default_policies:
        rule_ids += sorted(r.id for r in _context_analysis_rules(options))
    kept = TemplateSet(templates={k: v for k, v in templates.templates.items() if k not in referential},
                       constraints=[c for c in templates.constraints if c.kind not in referential])
    if not rule_ids:
        return kept, []
    reason = (f"no context: the rules that judge an object by other objects ({', '.join(rule_ids)}) are not "
              "evaluated (scan inside the repository, or pass --context PATH with the rest of the deployment)")
    inputs = (loaded.scanned if loaded else []) or ["<input>"]
    return kept, [Skipped(path=path, reason=reason) for path in inputs]


def run_settings(options: ScanOptions, findings: Sequence[Finding]) -> dict[str, object]:
    """What a scan ran with, as every report shows it: the policies, the configuration in force (flags over
    `.kguard.yaml`) and the suppression counts (a baseline adds its own later)."""
    in_force = dataclasses.replace(options.config, pod_security=options.pod_security, select=tuple(options.select),
                                   ignore=tuple(options.ignore), pod_template_paths=tuple(options.pod_template_paths))
    return {
        "policies": policy_settings(options),
        "config": in_force.as_dict(),
        "suppressions": {"inline": sum(1 for f in findings if f.suppression and f.suppression.kind == "inSource"),
                         "baseline": 0},
    }


def policy_settings(options: ScanOptions) -> dict[str, object]:
    """Which policies ran: the library (path, or "bundled", and its sha256) and any --templates."""
    out: dict[str, object] = {"source": "none (--no-default-policies)", "sha256": ""}
    if options.default_policies:
        library = options.policy_dir or default_policy_dir()
        bundled = options.policy_dir is None
        out = {"source": "bundled" if bundled else display_path(library), "sha256": library_digest(library)}
    if options.template_dirs:
        out["templates"] = [display_path(t) for t in options.template_dirs]
    return out


def unjudged_pod_templates(resources: list[Resource], implied: list[Resource], templates: TemplateSet
                           ) -> list[Skipped]:
    """Objects that carry a pod template (containers at a usual place) but that no Pod Security constraint matches
    by kind and no --pod-template-path expands: listed as not evaluated, never silently passed."""
    pss = [c for c in templates.constraints if (t := templates.templates.get(c.kind)) and t.rule
           and t.rule.pss_level]
    if not pss:
        return []
    expanded = {id(r.parent) for r in implied}
    judged: dict[tuple[str, str], bool] = {}  # (group, kind) -> some Pod Security constraint matches that kind
    out = []
    for res in resources:
        if id(res) in expanded or res.parent is not None:
            continue
        group_kind = (res.api_version.rpartition("/")[0], res.kind)
        if group_kind not in judged:
            judged[group_kind] = any(kinds_match(c.match.get("kinds") or [], *group_kind) for c in pss)
        if judged[group_kind]:
            continue
        where = next((p for p in CONTAINER_PATHS if isinstance(value_at(res.obj, p), list)), None)
        if where is None:
            continue
        first = res.positions.get(())
        out.append(Skipped(path=res.path, line=first.line if first else None,
                           reason=f"{res.identity.display()} ({res.api_version}) carries a pod template at "
                                  f"{'.'.join(where[:-1])} but is not a workload kind the Pod Security policies "
                                  "know: not evaluated (add --pod-template-path or podTemplatePaths in .kguard.yaml)"))
    return out


def _start_analyses(resources: list[Resource], options: ScanOptions, graph_from: list[Resource] | None
                    ) -> forked.Started | None:
    """`_analyse` started in a forked child, to run on the second core while the policies are compiled and planned
    (from `FORKED_ANALYSES_MIN_OBJECTS` to `FORKED_ANALYSES_MAX_OBJECTS` objects, more than one CPU); None when
    they run here, after evaluation. Their findings are the same either way: the child sees the very objects this
    process has."""
    graph = graph_from if graph_from is not None else resources
    if (not (options.analyses and options.default_policies)
            or not FORKED_ANALYSES_MIN_OBJECTS <= len(graph) <= FORKED_ANALYSES_MAX_OBJECTS
            or forked.processes_available() < 2):
        return None
    return forked.start(lambda: [_analyse(resources, options, graph_from)])


def _analysed(analysing: forked.Started | None, resources: list[Resource], options: ScanOptions,
              graph_from: list[Resource] | None) -> tuple[list[Finding], list[Rule]]:
    """The analyses' findings and rules: from the child `_start_analyses` forked, else (none, or it failed) made
    here."""
    items = analysing.result() if analysing is not None else None
    made = next(items, None) if items is not None else None
    if made is not None:
        return made
    return _analyse(resources, options, graph_from)


def _analyse(resources: list[Resource], options: ScanOptions, inventory_from: list[Resource] | None
             ) -> tuple[list[Finding], list[Rule]]:
    """The whole-graph analyses over every object read; findings only on ``resources``."""
    if not (options.analyses and options.default_policies):
        return [], []
    from scanner.analysis import run_analyses
    from scanner.analysis.context import AnalysisContext

    context = AnalysisContext(default_pss_level=options.pod_security.default_level)
    findings, rules = run_analyses(inventory_from if inventory_from is not None else resources,
                                   lambda rule: _selected(rule, options.select, options.ignore), context)
    if inventory_from is not None:
        reviewed = {r.identity for r in resources}
        findings = [f for f in findings if f.resource in reviewed]
    overrides = dict(options.config.severity_overrides)
    if overrides:  # .kguard.yaml severityOverrides, as load_templates applies them to the templates' rules
        findings = [dataclasses.replace(f, severity=overrides[f.rule_id]) if f.rule_id in overrides else f
                    for f in findings]
        rules = [overridden(r, overrides) for r in rules]
    return findings, rules


def scan_paths(paths: Sequence[str], options: ScanOptions) -> ScanResult:
    """Load files / directories / ``-`` and scan them."""
    templates = load_templates(options)  # policy problems are usage errors: fail before reading input
    loaded = load_paths(paths)
    result = scan_resources(loaded.resources, options, loaded=loaded, templates=templates)
    require_input([result], paths)
    return result


def require_input(results: Sequence[ScanResult], given: Sequence[str]) -> None:
    """UsageError when a scan read no Kubernetes object and met no broken input: a scan of nothing is no pass."""
    if any(r.resources or r.input_errors or r.policy_errors for r in results):
        return
    shown = ", ".join("<stdin>" if p == "-" else str(p) for p in given) or "the input"
    skipped = [item for r in results for item in r.skipped]
    why = f"; {len(skipped)} input(s) not scanned, e.g. {skipped[0].path}: {skipped[0].reason}" if skipped else ""
    raise UsageError(f"{shown}: no Kubernetes manifest to scan{why}")
