"""`kguard fix`: scan, turn the findings into changes, place them in files, write (or show) them, and re-scan
what was touched; a fix that would break a render or add a finding is rolled back."""

from __future__ import annotations

import dataclasses
import difflib
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scanner.errors import UsageError
from scanner.fix.changes import SET, Change, NotFixed
from scanner.fix.netpol import DENY_RULES, network_policies
from scanner.fix.plan import Placed, Planner
from scanner.fix.pss import pod_security_changes
from scanner.fix.yamledit import YamlEditError
from scanner.load.files import display_path, load_paths, repo_root
from scanner.model import Finding, Resource, ScanResult, Severity
from scanner.report._common import finding_fingerprint
from scanner.scan import ScanOptions, load_templates, rule_selected, scan_resources
from scanner.workloads import workload_of

AUTOMOUNT_RULE = "rbac-automount-unused-token"
FIXABLE_RULES = ("pss-*", AUTOMOUNT_RULE, *DENY_RULES)  # what `kguard fix` looks at when --select is not given
ALL_RULES = ("*",)  # the scans before and after a fix look at every rule: a fix may not make any of them worse
Edits = dict[Path, tuple[str | None, str]]


@dataclass(slots=True)
class Target:
    """What one scan covers: plain files, or one overlay."""

    paths: Sequence[str] = ()
    overlay: Path | None = None
    named: bool = False  # files named on the command line: judged with their repository as context
    repository: Path | None = None

    @property
    def label(self) -> str:
        return display_path(self.overlay) if self.overlay else ", ".join(self.paths)


@dataclass(slots=True)
class FixOutcome:
    edits: Edits = field(default_factory=dict)
    placed: list[Placed] = field(default_factory=list)
    not_fixed: list[NotFixed] = field(default_factory=list)
    before: list[ScanResult] = field(default_factory=list)
    remaining: list[Finding] = field(default_factory=list)  # selected findings after the fix (or before, dry)
    # finding fingerprint -> (what the fix does, the edits of that finding's rule on its object alone)
    fixes: dict[str, tuple[str, Edits]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    new: list[Finding] = field(default_factory=list)  # findings the fix exposed (the scan still got better)


def _scan(target: Target, options: ScanOptions) -> tuple[ScanResult, list[Resource]]:
    """Scan ``target`` as `kguard scan` would: an overlay on its own; files with their repository as context
    (without one, the rules that judge an object by others are not evaluated, so nothing is fixed for them)."""
    if target.overlay is not None:
        from scanner.load.kustomize import load_overlay

        loaded = load_overlay(target.overlay)
        opts = dataclasses.replace(options, category=f"kguard/{display_path(target.overlay)}")
        return scan_resources(loaded.resources, opts, loaded=loaded, templates=load_templates(options)), \
            loaded.resources
    from scanner.plan import Plan, context_paths, load_context

    loaded = load_paths(list(target.paths))
    plan = Plan(files=list(target.paths), named_files=target.named, repository=target.repository)
    where = context_paths(plan, options, ())
    others: list[Resource] = []
    if where is not None and loaded.resources:
        from_context, _ = load_context(where, options.config.helm, {r.path for r in loaded.resources})
        identities = {r.identity for r in loaded.resources}
        others = [r for r in from_context if r.identity not in identities]
    result = scan_resources(loaded.resources, options, loaded=loaded, templates=load_templates(options),
                            inventory_from=[*loaded.resources, *others] if others else None,
                            partial=target.named and where is None)
    return result, loaded.resources


def _owned(overlay: Path) -> Callable[[Path], bool]:
    """Files only this overlay reads (among the overlays of its repository) belong to it."""
    from scanner.load.kustomize import discover_overlays, kustomization_inputs

    root = repo_root(str(overlay.resolve())) or overlay.resolve().parent
    shared: set[Path] = set()
    for other in discover_overlays(root):
        if other.resolve() != overlay.resolve():
            shared |= kustomization_inputs(other)
    return lambda file: file.resolve() not in shared


def changes_for(resource: Resource, findings: list[Finding], unsafe: bool) -> tuple[list[Change], list[NotFixed]]:
    """The changes that fix ``findings`` (all on ``resource``) and what stays to a person."""
    shown = resource.identity.display()
    rules = {f.rule_id for f in findings}
    changes: list[Change] = []
    left: list[NotFixed] = []
    pss = {r for r in rules if r.startswith("pss-")}
    workload = workload_of(resource.obj)
    if pss and workload is not None:
        found, why = pod_security_changes(resource.obj, workload.pod_spec, pss, unsafe=unsafe)
        changes += found
        left += [NotFixed(rule, shown, reason) for rule, reason in sorted(why.items())]
    elif pss:
        left += [NotFixed(rule, shown, "not a workload kind kguard knows") for rule in sorted(pss)]
    for finding in findings:
        if finding.rule_id == AUTOMOUNT_RULE and finding.field_path:
            changes.append(Change(tuple(finding.field_path), SET, False, AUTOMOUNT_RULE))
    for rule in sorted(rules - pss - {AUTOMOUNT_RULE}):
        left.append(NotFixed(rule, shown, "no automatic fix for this rule (reported, not written)"))
    return changes, left


def plan_target(target: Target, options: ScanOptions, *, unsafe: bool, in_base: bool, per_finding: bool
                ) -> tuple[Planner, ScanResult, list[NotFixed], dict[str, tuple[str, Edits]]]:
    """Scan ``target`` and plan the edits that fix its findings."""
    result, resources = _scan(target, dataclasses.replace(options, select=list(ALL_RULES)))
    chosen = {rule.id for rule in result.rules if rule_selected(rule, options.select, options.ignore)}
    by_key = {(r.identity, r.occurrence): r for r in resources if r.parent is None}
    grouped: dict[int, list[Finding]] = defaultdict(list)
    owners: dict[int, Resource] = {}
    for finding in result.findings:
        resource = by_key.get((finding.resource, finding.occurrence))
        if finding.suppressed or resource is None or finding.rule_id not in chosen:
            continue
        grouped[id(resource)].append(finding)
        owners[id(resource)] = resource
    owned = _owned(target.overlay) if target.overlay is not None else (lambda _: True)
    planner = Planner(overlay=target.overlay, owned=owned, in_base=in_base)
    left: list[NotFixed] = []
    fixes: dict[str, tuple[str, Edits]] = {}
    for key, found in grouped.items():
        resource = owners[key]
        directions = {DENY_RULES[f.rule_id]: f.rule_id for f in found if f.rule_id in DENY_RULES}
        docs: list[dict] = []
        rule_of: dict[str, str] = {}
        if resource.kind == "Namespace" and directions:
            docs = network_policies(resource.name, set(directions), resources)
            rule_of = {d["metadata"]["name"]: _policy_rule(d, directions) for d in docs}
            planner.add_objects(resource, docs, rule_of)
        changes, not_fixed = changes_for(resource, [f for f in found if f.rule_id not in DENY_RULES], unsafe)
        left += not_fixed
        planner.add(resource, changes)
        if per_finding:
            for finding in found:
                alone = Planner(overlay=target.overlay, owned=owned, in_base=in_base)
                mine = [d for d in docs if rule_of[d["metadata"]["name"]] == finding.rule_id]
                if mine:
                    alone.add_objects(resource, mine, rule_of)
                alone.add(resource, [c for c in changes if c.rule_id == finding.rule_id])
                edits = alone.texts()
                if edits:
                    what = "; ".join(dict.fromkeys(p.change.describe() for p in alone.placed))
                    fixes[finding_fingerprint(finding)] = (f"kguard fix: {what}", edits)
    left += [NotFixed(c.rule_id, shown, why) for c, shown, why in planner.failed]
    return planner, result, left, fixes


def _policy_rule(doc: dict, directions: dict[str, str]) -> str:
    """The deny rule a generated NetworkPolicy answers (the ingress one when it serves both)."""
    types = doc["spec"]["policyTypes"]
    return directions["Ingress"] if "Ingress" in types and "Ingress" in directions else directions["Egress"]


def fix(targets: Sequence[Target], options: ScanOptions, *, unsafe: bool = False, in_base: bool = False,
        write: bool = True, per_finding: bool = False) -> FixOutcome:
    """Plan (and with ``write`` apply and verify) the fixes for every target, one after the other."""
    load_templates(options)  # a --select or --ignore pattern that matches no rule is a usage error
    outcome = FixOutcome()
    every_rule = dataclasses.replace(options, select=list(ALL_RULES))
    for target in targets:
        try:
            planner, before, left, fixes = plan_target(target, options, unsafe=unsafe, in_base=in_base,
                                                       per_finding=per_finding)
            edits = planner.texts()
        except YamlEditError as exc:
            outcome.errors.append(f"{target.label}: not fixed: {exc}")
            continue
        outcome.before.append(dataclasses.replace(before, findings=_chosen(before, options)))
        outcome.errors += [str(e) for e in before.input_errors]  # the rest of the input is still fixed
        outcome.not_fixed += left
        outcome.fixes.update(fixes)
        if not write:
            outcome.placed += planner.placed
            outcome.edits.update(edits)
            outcome.remaining += _chosen(before, options)
            continue
        # other overlays that read an edited file (a base edited with --in-base) are judged before and after too
        others = {o: _scan(Target(overlay=o), every_rule)[0] for o in _other_overlays(target, edits)}
        problem: tuple[ScanResult, list[Finding]] | str = _write(edits)  # "" once every file is written
        if not problem:
            problem = _verify(target, every_rule,
                              {target.label: before} | {display_path(o): r for o, r in others.items()},
                              [target, *(Target(overlay=o) for o in others)])
            if isinstance(problem, str):
                _restore(edits)
        if isinstance(problem, str):
            outcome.errors.append(f"{target.label}: not fixed, the change was rolled back: {problem}")
            outcome.remaining += _chosen(before, options)
            continue
        after, new = problem
        outcome.placed += planner.placed
        outcome.edits.update(edits)
        outcome.remaining += _chosen(after, options)
        outcome.new += new
    return outcome


def _other_overlays(target: Target, edits: Edits) -> list[Path]:
    if target.overlay is None or not edits:
        return []
    from scanner.load.kustomize import affected_overlays

    root = repo_root(str(target.overlay.resolve())) or target.overlay.resolve().parent
    return [o for o in affected_overlays([str(p) for p in edits if p.exists()], root)
            if o.resolve() != target.overlay.resolve()]


def _write(edits: Edits) -> str:
    """Write every edit, never through a symlink planted in the checkout (`scanner.safe_files`); when one cannot
    be written, undo those already written and say why."""
    from scanner.safe_files import write_file

    done: Edits = {}
    for path, (old, new) in edits.items():
        try:
            write_file(path, new)
        except UsageError as exc:
            _restore(done)
            return str(exc)
        done[path] = (old, new)
    return ""


def _restore(edits: Edits) -> None:
    from scanner.safe_files import write_file

    for path, (old, _) in edits.items():
        if old is None:
            path.unlink(missing_ok=True)  # the file this fix created (unlink never follows a link)
        else:
            write_file(path, old)


def _verify(target: Target, options: ScanOptions, before: dict[str, ScanResult], scanned: list[Target]
            ) -> tuple[ScanResult, list[Finding]] | str:
    """Re-scan ``target`` and the other overlays that read an edited file: (the target's result, findings that
    are new anywhere), or why the fix made things worse (a render that fails, a worse scan)."""
    new: list[Finding] = []
    first: ScanResult | None = None
    for item in scanned:
        after, _ = _scan(item, options)
        old = before[item.label]
        broken = [e for e in after.input_errors if str(e) not in {str(x) for x in old.input_errors}]
        if broken:
            return str(broken[0])
        worse = _worse(old, after)
        if worse:
            return f"{item.label}: {worse}"
        known = {_key(f) for f in old.findings}
        new += [f for f in after.findings if not f.suppressed and _key(f) not in known]
        first = first or after
    assert first is not None
    return first, new


def _key(finding: Finding) -> tuple[object, ...]:
    return (finding.rule_id, finding.resource, tuple(finding.field_path))


def _chosen(result: ScanResult, options: ScanOptions) -> list[Finding]:
    """The unsuppressed findings of the rules --select chose."""
    chosen = {rule.id for rule in result.rules if rule_selected(rule, options.select, options.ignore)}
    return [f for f in result.findings if not f.suppressed and f.rule_id in chosen]


def _worse(before: ScanResult, after: ScanResult) -> str:
    """Worse = more findings of the highest severity whose count changed (a fix that removes a critical finding
    may expose a medium one, e.g. isolation rules that skip hostNetwork pods; the new ones are reported)."""
    old = Counter(f.severity for f in before.findings if not f.suppressed)
    new = Counter(f.severity for f in after.findings if not f.suppressed)
    for severity in sorted(Severity, reverse=True):
        if new[severity] != old[severity]:
            return "" if new[severity] < old[severity] else f"more {severity.label} findings than before"
    return ""


def unified_diff(edits: Edits) -> str:
    """A unified diff of every edit, files in path order, paths as the reports show them."""
    out: list[str] = []
    for path in sorted(edits):
        old, new = edits[path]
        shown = display_path(path)
        out.extend(difflib.unified_diff((old or "").splitlines(keepends=True), new.splitlines(keepends=True),
                                        fromfile="/dev/null" if old is None else f"a/{shown}",
                                        tofile=f"b/{shown}"))
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in out)


def fix_options(options: ScanOptions) -> ScanOptions:
    """``options`` with the fixable rules selected when no --select was given."""
    if options.select:
        return options
    return dataclasses.replace(options, select=list(FIXABLE_RULES))


def targets_for(paths: Sequence[str], options: ScanOptions, *, kustomize: Sequence[str] = (),
                all_overlays: bool = False) -> tuple[list[Target], list[str]]:
    """What `kguard fix PATH ... [--kustomize DIR] [--all-overlays]` works on, planned as `kguard scan` plans it
    (a directory's overlays are rendered, a file an overlay reads is fixed through that overlay), and notes on
    inputs that are not fixed (Helm charts, files no rendered kustomization reads)."""
    from scanner.plan import plan_paths

    if not paths and not kustomize and not all_overlays:
        raise UsageError("nothing to fix: give PATH ..., --kustomize DIR or --all-overlays")
    plan = plan_paths(list(paths), options.config.helm, kustomize=list(kustomize), all_overlays=all_overlays)
    if plan.errors:
        raise UsageError(str(plan.errors[0]))
    targets = [Target(paths=list(plan.files), named=plan.named_files, repository=plan.repository)] if plan.files \
        else []
    targets += [Target(overlay=overlay) for overlay in plan.overlays]
    notes = [f"{display_path(r.chart)}: a Helm chart: not fixed (change its templates or values)"
             for r in plan.releases]
    # bases and components are fixed through the overlays that read them; other unscanned inputs are named
    notes += [f"{s.path}: {s.reason}" for s in plan.not_scanned
              if not s.reason.startswith(("base of ", "component of "))]
    return targets, notes
