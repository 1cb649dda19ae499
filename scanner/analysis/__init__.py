"""Whole-graph analyses: findings no single-object policy can produce (reachability, RBAC escalation).

Each analysis is a module listed in `ANALYSES` with `RULES: tuple[Rule, ...]` (known before running, so that
--select/--ignore can be checked) and `analyse(resources, context=None) -> (findings, rules)`, where `context` is
an `AnalysisContext` (scan settings). Modules are imported only when used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scanner.analysis.context import AnalysisContext
    from scanner.engine.catalogue import Rule
    from scanner.model import Finding, Resource

ANALYSES: tuple[str, ...] = ("scanner.analysis.reachability", "scanner.analysis.rbac", "scanner.analysis.posture")


def _modules() -> list[ModuleType]:
    return [importlib.import_module(name) for name in ANALYSES]


def analysis_rules() -> list[Rule]:
    """Every rule the analyses can report."""
    return [rule for module in _modules() for rule in module.RULES]


def run_analyses(resources: Sequence[Resource], selected: Callable[[Rule], bool],
                 context: AnalysisContext | None = None) -> tuple[list[Finding], list[Rule]]:
    """Run every analysis with at least one selected rule; keep only the selected rules and their findings."""
    findings: list[Finding] = []
    rules: list[Rule] = []
    for module in _modules():
        wanted = {rule.id for rule in module.RULES if selected(rule)}
        if not wanted:
            continue
        found, reported = module.analyse(resources, context)
        findings.extend(f for f in found if f.rule_id in wanted)
        rules.extend(r for r in reported if r.id in wanted)
    return findings, rules
