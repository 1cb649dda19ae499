"""Evaluating a plan through one Rego backend, and `verify` (the whole run)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from scanner.engine import runner
from scanner.engine.backend import Backend, EvalFailure
from scanner.engine.engines import make_backend
from scanner.engine.review import inventory as build_inventory
from scanner.errors import UsageError
from scanner.verify.cases import apply_assertions
from scanner.verify.planning import Pending, Plan, plan_suites
from scanner.verify.results import FAIL, SKIP, SuiteResult
from scanner.verify.suites import SUITE_GROUP, Filter, find_suites

NON_STRING_MSG = "violation msg is not a string"


def _record_outcome(pending: Pending, outcome: Any, error: str | None) -> None:
    result = pending.result
    if error is not None:
        result.status, result.error = FAIL, f"evaluation failed: {error}"
        return
    if isinstance(outcome, EvalFailure):
        if outcome.message.startswith(NON_STRING_MSG):
            result.status, result.error = FAIL, f"reviewing object: {outcome.message}"
            return
        # gator turns a runtime error into one result per constraint whose msg is the error
        result.results.append({"msg": outcome.message, "details": {}})
        result.notes.append(f"evaluation error counted as a violation, as gator does: {outcome.message}")
    else:
        result.results.extend(outcome or [])
    apply_assertions(result, pending.assertions)


def evaluate_plan(plan: Plan, new_backend: Callable[[], Backend], timeout: float) -> None:
    """Compile every template once (a broken one fails its tests), then evaluate the cases per inventory.

    A backend that says it is `reloadable` (the OPA server) is loaded again for each inventory; any other gets
    a fresh instance per inventory, so that no data of one case leaks into another.
    """
    backend = new_backend()
    try:
        compile_errors = runner.load(backend, list(plan.templates.values()), build_inventory([]), timeout=timeout)
        for key, message in compile_errors.items():
            for test in plan.compile_targets.get(key, []):
                test.status, test.error = FAIL, f"adding template: {message}"
                for case in test.cases:
                    if case.status != SKIP:
                        case.status, case.error = SKIP, ""
        groups: dict[tuple[str, ...], list[Pending]] = {}
        for pending in plan.pending:
            if pending.key not in compile_errors:
                groups.setdefault(pending.inventory_key, []).append(pending)
        for inventory_key, members in sorted(groups.items()):
            started = time.perf_counter()
            load_errors: dict[str, str] = {}
            if inventory_key:  # the case's inventory files are its whole data.inventory
                if not getattr(backend, "reloadable", False):
                    backend.close()
                    backend = new_backend()
                templates = [plan.templates[k] for k in sorted({p.key for p in members})]
                load_errors = runner.load(backend, templates, build_inventory(plan.inventories[inventory_key]),
                                          timeout=timeout)
            run = runner.run(backend, [((p.key,), p.input) for p in members], timeout=timeout, workers=1)
            share = (time.perf_counter() - started) / len(members)
            for index, pending in enumerate(members):
                error = load_errors.get(pending.key) or run.errors.get(pending.key)
                outcome = run.outcomes.get(index, {}).get(pending.key, [])
                _record_outcome(pending, outcome, error)
                pending.result.seconds = pending.started + share
    finally:
        backend.close()


def _selects_anything(plan: Any) -> bool:
    """Whether a --run filter left any test or case to run (skipped suites and skip: true do not count)."""
    return any(test.status != SKIP and (not test.cases or any(case.status != SKIP for case in test.cases))
               for suite in plan.suites for test in suite.tests)


def verify(targets: list[str], *, run_filter: str | None = None, engine: str = "regorus",
           opa_url: str | None = None, timeout: float = 10.0,
           make: Callable[[str, str | None], Backend] = make_backend) -> list[SuiteResult]:
    """Run every suite under ``targets``; raises UsageError when there is nothing to run."""
    if not 0 < timeout < float("inf"):
        raise UsageError(f"--policy-timeout must be a positive number of seconds, not {timeout:g}")
    if opa_url is not None and engine != "opa":
        raise UsageError("--opa-url is the OPA server of --engine opa; add --engine opa (or drop --opa-url)")
    flt = Filter.parse(run_filter)
    suites = find_suites(targets)
    if not suites:
        raise UsageError(f"no Suite files (kind: Suite, apiVersion: {SUITE_GROUP}/...) found in "
                         f"{', '.join(targets)}")
    plan = plan_suites(suites, flt)
    if run_filter and not _selects_anything(plan):
        raise UsageError(f"--run {run_filter!r} matches no test or case in {', '.join(targets)}")
    if plan.templates:
        evaluate_plan(plan, lambda: make(engine, opa_url), timeout)
    for suite in plan.suites:
        suite.seconds = sum(t.total_seconds for t in suite.tests)
    return plan.suites
