"""Planning a run: read every selected test and case, settle what needs no engine, queue the rest.

Cases whose constraint matches become `Pending` engine inputs; the others (and every error) are decided here.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from scanner.engine.review import namespaces_by_name
from scanner.engine.templates import Constraint, Template
from scanner.load.files import display_path
from scanner.model import Resource
from scanner.verify.cases import apply_assertions, case_review, match_case
from scanner.verify.fixtures import read_constraint, read_objects, read_one_object, read_template
from scanner.verify.results import FAIL, NOT_EVALUATED, SKIP, CaseError, CaseResult, SuiteResult, TestResult
from scanner.verify.suites import Filter


@dataclass(slots=True)
class Pending:
    """A case waiting for the engine: its input, the template key and the inventory it needs."""

    result: CaseResult
    assertions: list[Any]
    key: str
    inventory_key: tuple[str, ...]
    input: str
    started: float


@dataclass(slots=True)
class Plan:
    suites: list[SuiteResult] = field(default_factory=list)
    templates: dict[str, Template] = field(default_factory=dict)  # key -> template (kind == key)
    pending: list[Pending] = field(default_factory=list)
    inventories: dict[tuple[str, ...], list[Resource]] = field(default_factory=dict)
    compile_targets: dict[str, list[TestResult]] = field(default_factory=dict)  # key -> tests using it


class _TemplateKeys:
    """One backend key per distinct template file (kinds can repeat across suites)."""

    def __init__(self, plan: Plan) -> None:
        self._plan = plan
        self._by_file: dict[Path, tuple[str, Template]] = {}
        self._keys: set[str] = set()

    def get(self, base: Path, relative: str) -> tuple[str, Template]:
        """The backend key and the template as written (its own kind)."""
        file = (base / relative).resolve()
        if file in self._by_file:
            return self._by_file[file]
        template = read_template(base, relative)
        key, n = template.kind, 1
        while key in self._keys:
            n += 1
            key = f"{template.kind}_{n}"
        self._keys.add(key)
        if template.rego is not None:
            self._plan.templates[key] = replace(template, kind=key)
        self._by_file[file] = (key, template)
        return key, template


def _plan_case(plan: Plan, base: Path, case: dict[str, Any], key: str,
               constraint: Constraint) -> Pending | CaseResult:
    started = time.perf_counter()
    result = CaseResult(name=str(case.get("name", "")))
    try:
        if not case.get("object"):
            raise CaseError("must define object")
        assertions = case.get("assertions")
        if not isinstance(assertions, list) or not assertions:
            raise CaseError("assertions must be non-empty")
        obj = read_one_object(base, case["object"], "object")
        inventory_files = case.get("inventory") or []
        if not isinstance(inventory_files, list):
            raise CaseError("inventory must be a list of files")
        inventory: list[Resource] = []
        for relative in inventory_files:
            inventory.extend(read_objects(base, relative, "inventory"))
        review_doc, candidates = case_review(obj.obj)
    except CaseError as exc:
        result.status, result.error = FAIL, str(exc)
        result.seconds = time.perf_counter() - started
        return result
    inventory_key = tuple(sorted(str((base / f).resolve()) for f in inventory_files))
    plan.inventories.setdefault(inventory_key, inventory)
    verdict = match_case(constraint, candidates, namespaces_by_name(inventory)) \
        if constraint.enforcement_action else False
    if verdict is not True:
        if isinstance(verdict, str):
            result.results.append({"msg": verdict, "details": {}})
        apply_assertions(result, assertions)
        result.seconds = time.perf_counter() - started
        return result
    text = json.dumps({"parameters": constraint.parameters, "review": review_doc}, sort_keys=True)
    return Pending(result=result, assertions=assertions, key=key, inventory_key=inventory_key, input=text,
                   started=time.perf_counter() - started)


def _plan_test(plan: Plan, keys: _TemplateKeys, base: Path, test: dict[str, Any], run_filter: Filter) -> TestResult:
    started = time.perf_counter()
    name = str(test.get("name", ""))
    out = TestResult(name=name)
    cases = [c if isinstance(c, dict) else {} for c in test.get("cases") or []]
    if test.get("skip") or not run_filter.test_selected(name, [str(c.get("name", "")) for c in cases]):
        out.status = SKIP
        return out
    try:
        if not test.get("template"):
            raise CaseError("missing template")
        key, template = keys.get(base, str(test["template"]))
        if not test.get("constraint"):
            raise CaseError("missing constraint")
        constraint, problems = read_constraint(base, test["constraint"], template)
    except CaseError as exc:
        out.status, out.error = FAIL, str(exc)
        out.seconds = time.perf_counter() - started
        return out
    if template.rego is not None:  # a template that does not compile fails the test, as in gator
        plan.compile_targets.setdefault(key, []).append(out)
    if test.get("invalid"):
        if not problems:
            out.status, out.error = FAIL, "constraint is valid, but the test expects it to fail schema validation"
        out.seconds = time.perf_counter() - started
        return out
    if problems:
        out.status, out.error = FAIL, f"adding constraint: schema validation failed: {'; '.join(problems)}"
        return out
    if template.rego is None:
        out.status, out.error = NOT_EVALUATED, (f"template {template.kind} has only CEL (K8sNativeValidation) "
                                                "code; kguard evaluates Rego")
        return out
    if test.get("expansion"):
        out.status, out.error = NOT_EVALUATED, "expansion templates (generated resources) are not supported"
        return out
    for case in cases:
        case_name = str(case.get("name", ""))
        if case.get("skip") or not run_filter.case_selected(name, case_name):
            out.cases.append(CaseResult(name=case_name, status=SKIP))
            continue
        assert constraint is not None
        planned = _plan_case(plan, base, case, key, constraint)
        if isinstance(planned, Pending):
            plan.pending.append(planned)
            out.cases.append(planned.result)
        else:
            out.cases.append(planned)
    out.seconds = time.perf_counter() - started
    return out


def plan_suites(suites: list[tuple[Path, dict[str, Any]]], run_filter: Filter) -> Plan:
    """Results for every suite (decided where no engine is needed) and the cases left for the engine."""
    plan = Plan()
    keys = _TemplateKeys(plan)
    for file, suite in suites:
        result = SuiteResult(path=display_path(file))
        plan.suites.append(result)
        if suite.get("skip"):
            result.skipped = True
            continue
        for test in suite.get("tests") or []:
            result.tests.append(_plan_test(plan, keys, file.parent, test if isinstance(test, dict) else {},
                                           run_filter))
    return plan
