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
from scanner.cluster.owners import collapse, key_of, owners, resource_key
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
    if git is not None and options.drift:  # drift needs every kind Git declares (Secrets: metadata only)
        patterns |= {(r.api_version.rpartition("/")[0], r.kind) for r in git.resources if r.kind}
    snapshot = read_cluster(client, patterns, options.read, progress)
    core_failed = [g for g in snapshot.coverage if g["kind"] == "*" and g["group"] == ""]
    if core_failed:  # wrong credentials, unreachable server: nothing can be audited
        raise UsageError(f"cluster {client.context} ({client.server}): {core_failed[0]['message']}")
    category = f"{CATEGORY_PREFIX}/{safe_segment(client.context)}"
    opts = dataclasses.replace(scan_options, category=category)
    owned = owners(snapshot.resources)
    keys = [resource_key(r) for r in snapshot.resources]
    index = set(keys)
    # made from a template kguard evaluates at the owner: stays in data.inventory, is not evaluated again
    derived = {k for k, owner in owned.items() if key_of(owner) in index}
    evaluated = [r for r, k in zip(snapshot.resources, keys, strict=True) if k not in derived]
    if progress is not None:
        progress(f"evaluating {len(evaluated)} objects ({len(derived)} controller-made ones at their owner)", -1)
    usable, blind = without_blind_templates(templates, sync, snapshot.unreadable)
    result = evaluate_with_inventory(evaluated, snapshot.resources, opts, usable)
    result.not_evaluated.extend(blind)
    result.rules = sorted((t.rule for t in templates.templates.values() if t.rule), key=lambda r: r.id)
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


def without_blind_templates(templates: Any, sync: dict[str, set[tuple[str, str]]],
                            unreadable: set[tuple[str, str]]) -> tuple[Any, list[Skipped]]:
    """Templates whose `data.inventory` would miss objects that could not be read are not evaluated.

    Their findings would be guesses ("no NetworkPolicy selects this workload" when NetworkPolicies were
    forbidden). A template that reads the inventory without declaring what it needs (no catalogue `sync`) is blind
    when anything could not be read. Returns (the templates to evaluate, a not-evaluated entry per blind template).
    """
    from scanner.engine.templates import TemplateSet

    if not unreadable:
        return templates, []
    blind: dict[str, list[tuple[str, str]]] = {}
    for kind, template in templates.templates.items():
        if not template.uses_inventory:
            continue
        missing = sorted(sync.get(kind, unreadable) & unreadable)
        if missing:
            blind[kind] = missing
    if not blind:
        return templates, []
    skipped = [Skipped(path=templates.templates[kind].source or kind,
                       reason=f"{templates.templates[kind].rule.id if templates.templates[kind].rule else kind}: "
                              f"not evaluated, its data.inventory needs "
                              f"{', '.join(f'{k}.{g}' if g else k for g, k in missing)}, which could not be read "
                              "(see coverage)")
               for kind, missing in sorted(blind.items())]
    kept = TemplateSet(templates={k: t for k, t in templates.templates.items() if k not in blind},
                       constraints=[c for c in templates.constraints if c.kind not in blind])
    return kept, skipped


def evaluate_with_inventory(evaluated: list, everything: list, options: Any, templates: Any) -> ScanResult:
    """`scan_resources` for ``evaluated`` with `data.inventory` (and Namespaces) built from ``everything``."""
    from scanner.scan import scan_resources

    result = scan_resources(evaluated, options, templates=templates, inventory_from=everything)
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
