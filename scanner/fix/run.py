"""`kguard fix`: scan, turn the findings into changes, place them in files, write (or show) them, and re-scan
what was touched; a fix that would break a render or add a finding is rolled back."""

from __future__ import annotations

import dataclasses
import difflib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scanner.errors import UsageError
from scanner.fix.changes import SET, Change, NotFixed
from scanner.fix.plan import Placed, Planner
from scanner.fix.pss import pod_security_changes
from scanner.load.files import LoadResult, display_path, load_paths, repo_root
from scanner.model import Finding, Resource, ScanResult
from scanner.scan import ScanOptions, load_templates, scan_resources
from scanner.workloads import workload_of

AUTOMOUNT_RULE = "rbac-automount-unused-token"
FIXABLE_RULES = ("pss-*", AUTOMOUNT_RULE)  # what `kguard fix` looks at when --select is not given
Edits = dict[Path, tuple[str | None, str]]


@dataclass(slots=True)
class Target:
    """What one scan covers: plain files, or one overlay."""

    paths: Sequence[str] = ()
    overlay: Path | None = None

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
    fixes: dict[str, Edits] = field(default_factory=dict)  # finding fingerprint -> that object's own edits
    errors: list[str] = field(default_factory=list)


def _load(target: Target) -> LoadResult:
    if target.overlay is None:
        return load_paths(list(target.paths))
    from scanner.load.kustomize import load_overlay

    return load_overlay(target.overlay)


def _scan(target: Target, options: ScanOptions) -> tuple[ScanResult, list[Resource]]:
    loaded = _load(target)
    category = f"kguard/{display_path(target.overlay)}" if target.overlay else options.category
    result = scan_resources(loaded.resources, dataclasses.replace(options, category=category), loaded=loaded,
                            templates=load_templates(options))
    return result, loaded.resources


def _owned(overlay: Path) -> callable:  # type: ignore[valid-type]
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
                ) -> tuple[Planner, ScanResult, list[NotFixed], dict[str, Edits]]:
    """Scan ``target`` and plan the edits that fix its findings."""
    result, resources = _scan(target, options)
    by_key = {(r.identity, f"{r.path}#{r.doc_index}"): r for r in resources if r.parent is None}
    grouped: dict[int, list[Finding]] = defaultdict(list)
    owners: dict[int, Resource] = {}
    for finding in result.findings:
        resource = by_key.get((finding.resource, finding.occurrence))
        if finding.suppressed or resource is None:
            continue
        grouped[id(resource)].append(finding)
        owners[id(resource)] = resource
    owned = _owned(target.overlay) if target.overlay is not None else (lambda _: True)
    planner = Planner(overlay=target.overlay, owned=owned, in_base=in_base)
    left: list[NotFixed] = []
    fixes: dict[str, Edits] = {}
    for key, findings in grouped.items():
        resource = owners[key]
        changes, not_fixed = changes_for(resource, findings, unsafe)
        left += not_fixed
        planner.add(resource, changes)
        if per_finding and changes:
            alone = Planner(overlay=target.overlay, owned=owned, in_base=in_base)
            alone.add(resource, changes)
            edits = alone.texts()
            for finding in findings:
                fixes[finding.fingerprint] = edits
    left += [NotFixed(c.rule_id, shown, why) for c, shown, why in planner.failed]
    return planner, result, left, fixes


def fix(targets: Sequence[Target], options: ScanOptions, *, unsafe: bool = False, in_base: bool = False,
        write: bool = True, per_finding: bool = False) -> FixOutcome:
    """Plan (and with ``write`` apply and verify) the fixes for every target, one after the other."""
    outcome = FixOutcome()
    for target in targets:
        planner, before, left, fixes = plan_target(target, options, unsafe=unsafe, in_base=in_base,
                                                   per_finding=per_finding)
        outcome.before.append(before)
        outcome.not_fixed += left
        outcome.fixes.update(fixes)
        edits = planner.texts()
        if not write:
            outcome.placed += planner.placed
            outcome.edits.update(edits)
            outcome.remaining += [f for f in before.findings if not f.suppressed]
            continue
        _write(edits)
        problem = _verify(target, options, before, edits)
        if isinstance(problem, str):
            _restore(edits)
            outcome.errors.append(f"{target.label}: not fixed, the change was rolled back: {problem}")
            outcome.remaining += [f for f in before.findings if not f.suppressed]
            continue
        outcome.placed += planner.placed
        outcome.edits.update(edits)
        outcome.remaining += problem
    return outcome


def _write(edits: Edits) -> None:
    for path, (_, new) in edits.items():
        path.write_text(new, encoding="utf-8")


def _restore(edits: Edits) -> None:
    for path, (old, _) in edits.items():
        if old is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(old, encoding="utf-8")


def _verify(target: Target, options: ScanOptions, before: ScanResult, edits: Edits) -> list[Finding] | str:
    """Re-scan ``target`` and every other overlay that reads an edited file: the findings left, or why the fix
    made things worse (a render that fails, a rule with more findings than before)."""
    if not edits:
        return [f for f in before.findings if not f.suppressed]
    after, _ = _scan(target, options)
    if after.input_errors:
        return str(after.input_errors[0])
    worse = _worse(before, after)
    if worse:
        return worse
    if target.overlay is not None:
        from scanner.load.kustomize import affected_overlays, load_overlay

        root = repo_root(str(target.overlay.resolve())) or target.overlay.resolve().parent
        for other in affected_overlays([str(p) for p in edits], root):
            if other.resolve() == target.overlay.resolve():
                continue
            loaded = load_overlay(other)
            if loaded.errors:
                return str(loaded.errors[0])
    return [f for f in after.findings if not f.suppressed]


def _worse(before: ScanResult, after: ScanResult) -> str:
    old = Counter(f.rule_id for f in before.findings if not f.suppressed)
    new = Counter(f.rule_id for f in after.findings if not f.suppressed)
    grown = sorted(rule for rule in new if new[rule] > old[rule])
    return f"more {', '.join(grown)} findings than before" if grown else ""


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


def require_targets(paths: Sequence[str], overlays: Sequence[str]) -> list[Target]:
    targets = [Target(overlay=Path(o)) for o in overlays]
    if paths:
        targets.insert(0, Target(paths=list(paths)))
    if not targets:
        raise UsageError("kguard fix needs PATHs, --kustomize DIR or --all-overlays")
    return targets
