"""Whole-graph analyses: findings no single-object policy can produce (reachability, RBAC escalation).

Each analysis is a module listed in `ANALYSES` with `RULES: tuple[Rule, ...]` (known before running, so that
--select/--ignore can be checked; `RULES_FROM` names a light module declaring them) and
`analyse(resources, context=None) -> (findings, rules)`, where `context` is an `AnalysisContext` (scan settings).
Modules are imported only when used.

`NEEDS` says which kinds an analysis must see completely to judge: a live audit that could not read one of them
does not run it (`blind_analyses`) and says so, instead of reporting gaps it could not see.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scanner.analysis.context import AnalysisContext
    from scanner.engine.catalogue import Rule
    from scanner.model import Finding, Resource

ANALYSES: tuple[str, ...] = ("scanner.analysis.reachability", "scanner.analysis.rbac", "scanner.analysis.posture")
_RBAC = "rbac.authorization.k8s.io"
# (group, kind)s each analysis must have read in full: without them its findings would be guesses ("not isolated"
# when NetworkPolicies were forbidden, "no binding" when bindings were). Objects it merely judges (workloads) are
# not listed: an unreadable workload is one finding less, never a false one.
NEEDS: dict[str, frozenset[tuple[str, str]]] = {
    "scanner.analysis.reachability": frozenset({("networking.k8s.io", "NetworkPolicy"), ("", "Namespace")}),
    "scanner.analysis.rbac": frozenset({(_RBAC, "Role"), (_RBAC, "ClusterRole"), (_RBAC, "RoleBinding"),
                                        (_RBAC, "ClusterRoleBinding"), ("", "ServiceAccount"), ("", "Namespace")}),
    "scanner.analysis.posture": frozenset({("", "Namespace")}),
}


# Where each analysis declares its `RULES`, importable without the analysis: a scan that runs none of them (a file
# scanned without context, as the pre-commit hook does) still checks --select/--ignore against their rules.
RULES_FROM: dict[str, str] = {
    "scanner.analysis.reachability": "scanner.analysis.reachability_rules",
    "scanner.analysis.rbac": "scanner.analysis.rbac.rules",
    "scanner.analysis.posture": "scanner.analysis.posture",
}


def _rules_of(name: str) -> tuple[Rule, ...]:
    return importlib.import_module(RULES_FROM[name]).RULES


def analysis_rules() -> list[Rule]:
    """Every rule the analyses can report."""
    return [rule for name in ANALYSES for rule in _rules_of(name)]


# Analyses that judge an object only with the others it relates to: without the rest of the deployment (a file
# scanned outside its repository) they are not evaluated. The posture analysis judges what it is given.
NEEDS_CONTEXT: tuple[str, ...] = ("scanner.analysis.reachability", "scanner.analysis.rbac")


def context_analysis_rules() -> list[Rule]:
    """The rules of the analyses in `NEEDS_CONTEXT`."""
    return [rule for name in NEEDS_CONTEXT for rule in _rules_of(name)]


def analysis_needs() -> set[tuple[str, str]]:
    """Every (group, kind) some analysis needs (a live audit lists them)."""
    return {gk for needs in NEEDS.values() for gk in needs}


def blind_analyses(unreadable: set[tuple[str, str]]) -> list[tuple[Rule, list[tuple[str, str]]]]:
    """(rule, the needed kinds that could not be read) for every rule of an analysis that cannot judge fairly."""
    out = []
    for name in ANALYSES:
        missing = sorted(NEEDS.get(name, frozenset()) & unreadable)
        if missing:
            out.extend((rule, missing) for rule in _rules_of(name))
    return out


def run_analyses(resources: Sequence[Resource], selected: Callable[[Rule], bool],
                 context: AnalysisContext | None = None) -> tuple[list[Finding], list[Rule]]:
    """Run every analysis with at least one selected rule; keep only the selected rules and their findings."""
    findings: list[Finding] = []
    rules: list[Rule] = []
    for name in ANALYSES:
        wanted = {rule.id for rule in _rules_of(name) if selected(rule)}
        if not wanted:
            continue
        found, reported = importlib.import_module(name).analyse(resources, context)
        findings.extend(f for f in found if f.rule_id in wanted)
        rules.extend(r for r in reported if r.id in wanted)
    return findings, rules
