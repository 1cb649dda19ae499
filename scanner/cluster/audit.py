"""`kguard audit`: live objects -> the same engine and policies as `kguard scan` -> one ScanResult.

Steps: read the cluster (coverage gaps recorded), evaluate, report findings on controller-made objects once at the
owning workload, map findings to Git manifests when given, then add Git drift and Gatekeeper drift.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from scanner.cluster.client import connect
from scanner.cluster.gitmap import git_index, load_git, map_findings
from scanner.cluster.kinds import CONSTRAINTS_GROUP, constraint_patterns
from scanner.cluster.owners import collapse, owners
from scanner.cluster.read import Progress, ReadOptions, Snapshot, in_scope, read_cluster, safe_segment
from scanner.errors import UsageError
from scanner.model import Location, ScanResult, Skipped

CATEGORY_PREFIX = "kguard-cluster"


@dataclass(slots=True, kw_only=True)
class AuditOptions:
    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool = False
    cluster_name: str | None = None  # names the cluster in paths and the SARIF category (default: the context)
    read: ReadOptions = field(default_factory=ReadOptions)
    request_timeout: float = 30.0
    manifests: Sequence[str] = ()
    kustomize: Sequence[str] = ()
    drift: bool = True


@dataclass(slots=True)
class Audit:
    result: ScanResult
    snapshot: Snapshot
    raw_counts: dict[str, int] = field(default_factory=dict)  # constraint label -> findings before collapsing
    mapped: int = 0  # findings pointed at a Git manifest
    derived: int = 0  # controller-made objects not evaluated on their own (their owner was)


def namespace_summary(audit: Audit) -> list[tuple[str, int, int]]:
    """(namespace or "(cluster-scoped)", objects read, findings) per namespace, sorted by namespace."""
    objects: dict[str, int] = {}
    for res in audit.snapshot.resources:
        name = res.namespace or "(cluster-scoped)"
        objects[name] = objects.get(name, 0) + 1
    findings: dict[str, int] = {}
    for finding in audit.result.findings:
        name = finding.resource.namespace or "(cluster-scoped)"
        findings[name] = findings.get(name, 0) + 1
    return [(ns, objects.get(ns, 0), findings.get(ns, 0)) for ns in sorted(objects.keys() | findings.keys())]


def run_audit(options: AuditOptions, scan_options: Any, progress: Progress | None = None) -> Audit:
    """Audit the live cluster; ``scan_options`` is a `scanner.scan.ScanOptions`."""
    from scanner.scan import load_templates

    templates = load_templates(scan_options)
    git = load_git(options.manifests, options.kustomize) if (options.manifests or options.kustomize) else None
    client = connect(kubeconfig=options.kubeconfig, context=options.context, in_cluster=options.in_cluster,
                     timeout=options.request_timeout, pool_size=max(4, options.read.concurrency * 2))
    if options.cluster_name:
        client.context = options.cluster_name
    sync = sync_requirements(scan_options)
    patterns = constraint_patterns(templates.constraints) | {k for needs in sync.values() for k in needs}
    patterns |= {gk for t in templates.templates.values() for req in (t.requires_sync or ()) for gk in req}
    if scan_options.analyses and scan_options.default_policies:
        from scanner.analysis import analysis_needs

        patterns |= analysis_needs()
    if git is not None and options.drift:  # drift needs every kind Git declares (Secrets: metadata only)
        patterns |= {(r.api_version.rpartition("/")[0], r.kind) for r in git.resources if r.kind}
    snapshot = read_cluster(client, patterns, options.read, progress)
    core_failed = [g for g in snapshot.coverage if g["kind"] == "*" and g["group"] == ""]
    if core_failed:  # wrong credentials, unreachable server: nothing can be audited
        raise UsageError(f"cluster {client.context} ({client.server}): {core_failed[0]['message']}")
    category = f"{CATEGORY_PREFIX}/{safe_segment(client.context)}"
    opts = dataclasses.replace(scan_options, category=category)
    owned = owners(snapshot.resources)
    keys = [r.key for r in snapshot.resources]
    index = set(keys)
    # made from a template kguard evaluates at the owner: stays in data.inventory, is not evaluated again
    derived = {k for k, owner in owned.items() if owner.key in index}
    evaluated = [r for r, k in zip(snapshot.resources, keys, strict=True) if k not in derived]
    if progress is not None:
        progress(f"evaluating {len(evaluated)} objects ({len(derived)} controller-made ones at their owner)", -1)
    usable, blind = without_blind_templates(templates, sync, snapshot.unreadable)
    opts, blind_analyses = without_blind_analyses(opts, snapshot.unreadable, client.context)
    # data.inventory is synced as Gatekeeper would (evaluate keeps Namespaces and the kinds the templates declare)
    result = evaluate_with_inventory(evaluated, snapshot.resources, opts, usable)
    result.not_evaluated.extend([*blind, *(entry for _, entry in blind_analyses)])
    result.rules = sorted({r.id: r for r in [*(t.rule for t in templates.templates.values() if t.rule),
                                             *result.rules, *(rule for rule, _ in blind_analyses)]}.values(),
                          key=lambda r: r.id)
    audit = Audit(result=result, snapshot=snapshot, derived=len(derived))
    for finding in result.findings:
        audit.raw_counts[finding.constraint] = audit.raw_counts.get(finding.constraint, 0) + 1

    locations = {k: _start(r.path) for r, k in zip(snapshot.resources, keys, strict=True)}
    result.findings = collapse(result.findings, owned, locations)
    result.coverage = snapshot.coverage
    result.scanned = [f"cluster/{safe_segment(client.context)}"]
    result.skipped.extend(Skipped(path=f"cluster/{safe_segment(client.context)}",
                                  reason=f"{kind}: wanted (matched by a policy or declared in Git) but "
                                         "not served by this cluster")
                          for kind in snapshot.not_installed)

    if git is not None:
        result.input_errors.extend(git.errors)
        result.skipped.extend(git.skipped)
        index = git_index(git.resources, scan_options.default_namespace)
        result.findings, audit.mapped = map_findings(result.findings, index)
        if options.drift:
            _add_git_drift(audit, git.resources, options, scan_options.default_namespace)
    _add_gatekeeper_drift(audit, templates, opts, options)
    result.findings.sort(key=lambda f: f.sort_key())
    return audit


def sync_requirements(scan_options: Any) -> dict[str, set[tuple[str, str]]]:
    """Template kind -> (group, kind) its `data.inventory` lookups need, from the catalogue's `sync` metadata."""
    if not scan_options.default_policies:
        return {}
    from scanner.engine.catalogue import default_policy_dir, load_catalogue

    return {p.rule.kind: {(str(s.get("group", "")), str(s["kind"])) for s in p.sync if s.get("kind")}
            for p in load_catalogue(scan_options.policy_dir or default_policy_dir()) if p.sync}


Requirements = tuple[tuple[tuple[str, str], ...], ...]  # all needed; each a tuple of equivalent (group, kind)s


def template_needs(template: Any, sync: dict[str, set[tuple[str, str]]]) -> Requirements | None:
    """What ``template`` reads besides the object it judges, as requirements (each a tuple of equivalent
    (group, kind)s, all needed); None when it reads `data.inventory` without saying what (anything may matter).

    The declaration is the template's own (`metadata.gatekeeper.sh/requires-sync-data`; the catalogue's `sync:`),
    else the catalogue's ``sync`` for its kind; a template that never reads `data.inventory` needs nothing.
    """
    if template.requires_sync is not None:
        return template.requires_sync
    if template.kind in sync:
        return tuple(((group, kind),) for group, kind in sorted(sync[template.kind]))
    return None if template.uses_inventory else ()


def without_blind_templates(templates: Any, sync: dict[str, set[tuple[str, str]]],
                            unreadable: set[tuple[str, str]]) -> tuple[Any, list[Skipped]]:
    """Templates that would judge without something they need are not evaluated; every other one is.

    A finding of a blind template would be a guess ("no NetworkPolicy selects this workload" when NetworkPolicies
    were forbidden), so it is left out with a not-evaluated entry naming what is missing. A template is blind when
    a requirement it declares (see `template_needs`) could not be read, when one of its constraints selects
    namespaces by label and Namespaces could not be read, or, declaring nothing while reading `data.inventory`,
    when anything could not be read. Rules that need only the object itself (a wildcard ClusterRole) are always
    evaluated. Returns (the templates to evaluate, a not-evaluated entry per blind template).
    """
    from scanner.engine.templates import TemplateSet

    if not unreadable:
        return templates, []
    by_selector = {c.kind for c in templates.constraints if (c.match or {}).get("namespaceSelector")}
    blind: dict[str, list[tuple[str, str]]] = {}
    for kind, template in templates.templates.items():
        needs = template_needs(template, sync)
        if needs is None:
            missing = set(unreadable)
        else:
            missing = {gk for requirement in needs if all(gk in unreadable for gk in requirement)
                       for gk in requirement}
        if kind in by_selector and ("", "Namespace") in unreadable:
            missing.add(("", "Namespace"))
        if missing:
            blind[kind] = sorted(missing)
    if not blind:
        return templates, []
    skipped = [Skipped(path=templates.templates[kind].source or kind,
                       reason=f"{templates.templates[kind].rule.id if templates.templates[kind].rule else kind}: "
                              f"not evaluated, it needs {', '.join(f'{k}.{g}' if g else k for g, k in missing)}, "
                              "which could not be read (see coverage)")
               for kind, missing in sorted(blind.items())]
    kept = TemplateSet(templates={k: t for k, t in templates.templates.items() if k not in blind},
                       constraints=[c for c in templates.constraints if c.kind not in blind])
    return kept, skipped


def without_blind_analyses(scan_options: Any, unreadable: set[tuple[str, str]], context: str
                           ) -> tuple[Any, list[tuple[Any, Skipped]]]:
    """The whole-graph analyses run only on kinds that were fully read: the rules of an analysis that needs a kind
    with a coverage gap are left out (added to ``ignore``), each with a not-evaluated entry, as for templates.

    Returns (the scan options to use, (rule, entry) per rule left out).
    """
    if not (unreadable and scan_options.analyses and scan_options.default_policies):
        return scan_options, []
    from scanner.analysis import blind_analyses
    from scanner.scan import rule_selected

    left_out = []
    for rule, missing in blind_analyses(unreadable):
        if rule_selected(rule, scan_options.select, scan_options.ignore):
            needs = ", ".join(f"{k}.{g}" if g else k for g, k in missing)
            left_out.append((rule, Skipped(path=f"cluster/{safe_segment(context)}",
                                           reason=f"{rule.id}: not evaluated, the analysis needs {needs}, which "
                                                  "could not be read (see coverage)")))
    if not left_out:
        return scan_options, []
    ignored = [*scan_options.ignore, *(rule.id for rule, _ in left_out)]
    return dataclasses.replace(scan_options, ignore=ignored), left_out


def evaluate_with_inventory(evaluated: list, everything: list, options: Any, templates: Any) -> ScanResult:
    """`scan_resources` for ``evaluated`` with `data.inventory` built from ``everything`` (the kinds the templates
    read, see `review.inventory_kinds`); the whole-graph analyses see ``everything``."""
    from scanner.scan import scan_resources

    result = scan_resources(evaluated, options, templates=templates, inventory_from=everything,
                            graph_from=everything)
    result.resources = len(everything)
    return result


def _start(path: str) -> Location:
    return Location(path=path, line=1, column=1, end_line=1, end_column=1)


def _add_rules(result: ScanResult, rule_ids: Sequence[str]) -> None:
    from scanner.drift import RULES

    have = {r.id for r in result.rules}
    result.rules = sorted([*result.rules, *(RULES[i] for i in rule_ids if i not in have)], key=lambda r: r.id)


def _add_git_drift(audit: Audit, git_resources: list, options: AuditOptions, default_namespace: str) -> None:
    from scanner.drift import git_drift

    snap = audit.snapshot
    readable = snap.listed_kinds - snap.unreadable
    findings = git_drift(snap.resources, git_resources, readable=readable,
                         in_scope=lambda ns: in_scope(ns, options.read),
                         default_namespace=default_namespace, not_served=snap.not_served)
    audit.result.findings.extend(findings)
    _add_rules(audit.result, ["drift-missing-in-cluster", "drift-missing-in-git", "drift-security-field"])


def _add_gatekeeper_drift(audit: Audit, templates: Any, scan_options: Any, options: AuditOptions) -> None:
    """Installed ConstraintTemplates vs `policies/`; constraints' totalViolations vs kguard's own count."""
    from scanner.drift import gatekeeper_count_drift, gatekeeper_template_drift

    snap = audit.snapshot
    installed = [r for r in snap.resources if r.kind == "ConstraintTemplate"
                 and r.api_version.startswith("templates.gatekeeper.sh/")]
    if not installed:
        return
    findings = []
    if scan_options.default_policies:
        from scanner.engine.catalogue import default_policy_dir, load_catalogue

        policies = load_catalogue(scan_options.policy_dir or default_policy_dir())
        findings.extend(gatekeeper_template_drift(installed, policies))
    constraints = [r for r in snap.resources if r.api_version.startswith(f"{CONSTRAINTS_GROUP}/")]
    counted = [c for c in constraints if isinstance((c.obj.get("status") or {}).get("totalViolations"), int)]
    if counted and (options.read.namespaces or options.read.exclude_namespaces):
        audit.result.skipped.append(Skipped(path=audit.result.scanned[0], reason="Gatekeeper violation counts "
                                            "not compared: --namespace/--exclude-namespace audit a subset"))
    elif counted:
        findings.extend(gatekeeper_count_drift(counted, count_in_cluster_constraints(counted, templates, snap,
                                                                                     scan_options)))
    audit.result.findings.extend(findings)
    _add_rules(audit.result, ["drift-gatekeeper-template", "drift-gatekeeper-violations"])


def count_in_cluster_constraints(constraints: list, templates: Any, snap: Snapshot, scan_options: Any
                                 ) -> dict[str, int]:
    """kguard's violation count for each in-cluster constraint whose template kguard knows (before collapsing)."""
    from scanner.engine.templates import TemplateSet, parse_constraint
    from scanner.scan import scan_resources

    subset = TemplateSet()
    for res in constraints:
        template = templates.templates.get(res.kind)
        if template is None:
            continue
        try:
            constraint = parse_constraint(res.obj, template, source=res.path)
        except (ValueError, KeyError):
            continue
        if res.kind not in subset.templates:
            subset.templates[res.kind] = template
        subset.constraints.append(constraint)
    if not subset.constraints:
        return {}
    counts = {c.label: 0 for c in subset.constraints}
    only_constraints = dataclasses.replace(scan_options, analyses=False)  # Gatekeeper counts constraints only
    result = scan_resources(snap.resources, only_constraints, templates=subset)
    for finding in result.findings:
        counts[finding.constraint] = counts.get(finding.constraint, 0) + 1
    return counts
