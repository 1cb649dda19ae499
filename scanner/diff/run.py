"""`kguard diff`: scan two revisions and compare them unit by unit (see `scanner.diff`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from scanner.config import CONFIG_FILE, Config
from scanner.diff import git
from scanner.diff.compare import FindingChange, compare_findings
from scanner.diff.deltas import (
    Delta,
    diff_facts,
    namespace_levels,
    network_facts,
    permission_facts,
    workload_levels,
)
from scanner.diff.revision import Snapshot, Unit, scan_tree
from scanner.load.files import MANIFEST_SUFFIXES
from scanner.load.kustomize.render import KUSTOMIZATION_FILES
from scanner.model import InputError, PolicyError, ScanResult, Severity
from scanner.scan import ScanOptions

WORKING_TREE = "working tree"


@dataclass(slots=True)
class UnitDiff:
    """One unit (overlay, or files and charts) compared: ``presence`` is both, added (head only) or removed."""

    key: str
    presence: str
    findings: list[FindingChange] = field(default_factory=list)
    deltas: list[Delta] = field(default_factory=list)
    reused: bool = False  # inputs untouched by the change: scanned once, everything unchanged

    def counts(self) -> dict[str, int]:
        out = {state: 0 for state in ("new", "updated", "absent", "unchanged")}
        for change in self.findings:
            out[change.state] += 1
        return out


@dataclass(slots=True)
class DiffResult:
    """The comparison of two revisions, and the scan results behind it."""

    base: str  # the base commit
    head: str  # the head commit, or WORKING_TREE
    units: list[UnitDiff]
    head_results: list[ScanResult]
    base_results: list[ScanResult]
    head_errors: list[InputError] = field(default_factory=list)  # discovery errors of the head revision
    base_errors: list[InputError] = field(default_factory=list)  # of the base units that were scanned

    @property
    def policy_errors(self) -> list[PolicyError]:
        return [e for r in self.head_results for e in r.policy_errors]

    @property
    def input_errors(self) -> list[InputError]:
        return [*self.head_errors, *(e for r in self.head_results for e in r.input_errors)]

    def blocking(self, threshold: Severity | None) -> tuple[list[FindingChange], list[Delta]]:
        """What the change introduces at or above ``threshold``: new (or raised) findings, new escalation paths
        and new cross-environment network paths."""
        return ([c for u in self.units for c in u.findings if c.introduced(threshold)],
                [d for u in self.units for d in u.deltas if d.introduced(threshold)])

    def exit_code(self, threshold: Severity | None) -> int:
        """2 when the head revision has input or policy errors, 1 when the change introduces something at or
        above ``threshold``, else 0 (existing findings never fail a diff)."""
        if self.input_errors or self.policy_errors:
            return 2
        findings, deltas = self.blocking(threshold)
        return 1 if findings or deltas else 0


def _default_level(result: ScanResult) -> str:
    return str(result.settings.get("config", {}).get("podSecurity", {}).get("defaultLevel") or "restricted")


def _rule_levels(results: list[ScanResult]) -> dict[str, str]:
    return {rule.id: rule.pss_level for result in results for rule in result.rules
            if getattr(rule, "pss_level", None)}


def compare_units(base: Unit | None, head: Unit | None, rule_levels: dict[str, str]) -> UnitDiff:
    """Findings and deltas of one unit between the revisions."""
    key = (head or base).key  # type: ignore[union-attr]
    presence = "both" if base and head else ("added" if head else "removed")
    diff = UnitDiff(key, presence, reused=bool(base and base.reused))
    diff.findings = compare_findings(base.result.findings if base else [], head.result.findings if head else [])
    if diff.reused:
        return diff
    before = base.resources if base else []
    after = head.resources if head else []
    diff.deltas += diff_facts("network", network_facts(before), network_facts(after))
    base_perms, base_paths = permission_facts(before)
    head_perms, head_paths = permission_facts(after)
    diff.deltas += diff_facts("permission", base_perms, head_perms)
    diff.deltas += diff_facts("escalation", base_paths, head_paths)
    base_level = _default_level(base.result) if base else "restricted"
    head_level = _default_level(head.result) if head else "restricted"
    base_ns, head_ns = namespace_levels(before, base_level), namespace_levels(after, head_level)
    diff.deltas += diff_facts("namespace-level", base_ns, head_ns)
    diff.deltas += diff_facts(
        "workload-level",
        workload_levels(base.result.findings if base else [], rule_levels, before, base_ns, base_level),
        workload_levels(head.result.findings if head else [], rule_levels, after, head_ns, head_level))
    return diff


def run_diff(start: Path, base_rev: str, head_rev: str | None,
             make_options: Callable[[Config], ScanOptions]) -> DiffResult:
    """Scan ``base_rev`` and ``head_rev`` (None: the working tree) of the repository containing ``start``."""
    root = git.toplevel(start)
    base_commit = git.resolve(root, base_rev)
    head_commit = git.resolve(root, head_rev) if head_rev else None
    changed = git.changed_files(root, base_commit, head_commit)
    with ExitStack() as stack:
        head_tree = stack.enter_context(git.worktree(root, head_commit)) if head_commit else root
        head = scan_tree(head_tree, head_commit or WORKING_TREE, make_options)
        if not any(affects_plan(path, head) for path in changed):
            base = same_as(head, base_commit)  # the change touches no input: nothing to check out or render
        else:
            base_tree = stack.enter_context(git.worktree(root, base_commit))
            base = scan_tree(base_tree, base_commit, make_options, previous=head, changed=changed)
        return _compare(base, head, base_commit, head_commit or WORKING_TREE)


def affects_plan(path: str, head: Snapshot) -> bool:
    """Whether a changed ``path`` can change what a revision scans: a manifest, kustomization or configuration
    file (they decide the units and their inputs), or an input of a unit (a generator source, a chart file).
    Other files (code, docs) cannot: with no such change the base revision scans exactly as the head."""
    name = path.rsplit("/", 1)[-1]
    if path.endswith(MANIFEST_SUFFIXES) or name in KUSTOMIZATION_FILES or name == CONFIG_FILE:
        return True
    return any(path in unit.inputs or any(i.endswith("/") and path.startswith(i) for i in unit.inputs)
               for unit in head.units.values())


def same_as(head: Snapshot, label: str) -> Snapshot:
    """The base revision when the change touches nothing it scans: the head's units, taken over."""
    return Snapshot(label=label, units={k: dataclasses.replace(u, reused=True) for k, u in head.units.items()})


def _compare(base: Snapshot, head: Snapshot, base_label: str, head_label: str) -> DiffResult:
    head_results = [u.result for u in head.units.values()]
    base_results = [u.result for u in base.units.values()]
    levels = _rule_levels([*head_results, *base_results])
    keys = sorted(base.units.keys() | head.units.keys())
    units = [compare_units(base.units.get(k), head.units.get(k), levels) for k in keys]
    base_errors = [*base.errors, *(e for u in base.units.values() if not u.reused for e in u.result.input_errors)]
    return DiffResult(base=base_label, head=head_label, units=units, head_results=head_results,
                      base_results=base_results, head_errors=head.errors, base_errors=base_errors)
