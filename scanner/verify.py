"""`kguard verify`: run Gatekeeper test suites (`kind: Suite`) with `gator verify` semantics.

A suite names tests (a ConstraintTemplate, a Constraint, cases) and each case an object to review, optional
`inventory` files (the only objects in `data.inventory` for that case) and assertions (`violations: yes|no|N`,
optional `message` regex; results whose msg matches are counted). Templates, constraints, matching and the
review come from `scanner.engine`; every case of a run is evaluated through one Rego backend, grouped by
inventory so that each distinct inventory is loaded once, under the same time limits as a scan.

Differences from gator are explicit, never silent: templates with only CEL code and tests using `expansion`
are reported as NOT EVALUATED.
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from scanner.engine import runner
from scanner.engine.backend import Backend, EvalFailure, make_backend
from scanner.engine.match import Undecided, matches
from scanner.engine.review import inventory as build_inventory
from scanner.engine.review import namespaces_by_name, review
from scanner.engine.templates import Constraint, Template, parse_constraint, parse_template
from scanner.errors import UsageError
from scanner.load.files import display_path, load_file
from scanner.model import Resource

SUITE_GROUP = "test.gatekeeper.sh"
CONSTRAINT_GROUP = "constraints.gatekeeper.sh"
YAML_SUFFIXES = (".yaml", ".yml")
NON_STRING_MSG = "violation msg is not a string"
_REGO_V1_IMPORT = re.compile(r"^\s*import\s+rego\.v1\b", re.MULTILINE)

# Case/test/suite states.
PASS, FAIL, SKIP, NOT_EVALUATED = "PASS", "FAIL", "SKIP", "NOT EVALUATED"


class CaseError(Exception):
    """Why a test or case fails before or instead of its assertions."""


@dataclass(slots=True)
class CaseResult:
    name: str
    status: str = PASS
    error: str = ""
    seconds: float = 0.0
    results: list[dict[str, Any]] = field(default_factory=list)  # {"msg", "details"} as gator counts them
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class TestResult:
    name: str
    status: str = PASS
    error: str = ""
    seconds: float = 0.0
    cases: list[CaseResult] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status == FAIL or any(c.status == FAIL for c in self.cases)


@dataclass(slots=True)
class SuiteResult:
    path: str
    skipped: bool = False
    seconds: float = 0.0
    tests: list[TestResult] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(t.failed for t in self.tests)


# -- finding suites -------------------------------------------------------------------------------------------


def _yaml_files(directory: Path, recursive: bool) -> list[Path]:
    if not recursive:
        return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in YAML_SUFFIXES)
    found = []
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).parts
        if path.is_file() and path.suffix in YAML_SUFFIXES and not any(p.startswith(".") for p in relative):
            found.append(path)
    return found


def find_suites(targets: Iterable[str]) -> list[tuple[Path, dict[str, Any]]]:
    """Suite files under ``targets`` (a file, a directory, or `DIR/...` for a recursive walk), sorted."""
    suites: dict[Path, dict[str, Any]] = {}
    for target in targets:
        recursive = target.endswith("/...") or target == "..."
        path = Path(target[: -len("...")] or ".") if recursive else Path(target)
        if not path.exists():
            raise UsageError(f"{target}: no such file or directory")
        if path.is_file():
            if recursive:
                raise UsageError(f"{target}: can only recursively traverse directories")
            if path.suffix not in YAML_SUFFIXES:
                raise UsageError(f"{target}: unsupported extension {path.suffix!r} (want .yaml or .yml)")
            files = [path]
        else:
            files = _yaml_files(path, recursive)
        for file in files:
            suite = _read_suite(file)
            if suite is not None:
                suites[file.resolve()] = suite
    return sorted(suites.items())


def _read_suite(file: Path) -> dict[str, Any] | None:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{display_path(file)}: cannot read: {exc}") from None
    if "Suite" not in text:  # cheap pre-check: most YAML files in a tree are not suites
        return None
    loaded = load_file(file)
    if loaded.errors:
        raise UsageError(str(loaded.errors[0]))
    if not loaded.resources:
        return None
    first = loaded.resources[0]
    if first.kind != "Suite" or first.api_version.rpartition("/")[0] != SUITE_GROUP:
        return None
    return first.obj  # like gator, only the first document counts


# -- --run filter (gator's: "TEST" matches test or case names, "TEST//CASE" both) --------------------------


@dataclass(frozen=True, slots=True)
class Filter:
    test: re.Pattern[str] | None = None
    case: re.Pattern[str] | None = None
    either: re.Pattern[str] | None = None

    @classmethod
    def parse(cls, text: str | None) -> Filter:
        if not text:
            return cls()
        parts = text.split("//")
        try:
            if len(parts) == 1:
                return cls(either=re.compile(parts[0]))
            if len(parts) == 2:
                return cls(test=re.compile(parts[0]), case=re.compile(parts[1]))
        except re.error as exc:
            raise UsageError(f"--run {text!r}: invalid regular expression: {exc}") from None
        raise UsageError(f'--run {text!r}: a filter may include at most one "//"')

    def test_selected(self, test: str, cases: list[str]) -> bool:
        if self.either is not None:
            return bool(self.either.search(test)) or any(self.case_selected(test, c) for c in cases)
        return self.test is None or bool(self.test.search(test))

    def case_selected(self, test: str, case: str) -> bool:
        if self.either is not None:
            return bool(self.either.search(case) or self.either.search(test))
        if self.test is None or self.case is None:
            return True
        return bool(self.case.search(case) and self.test.search(test))


# -- reading templates, constraints and objects ---------------------------------------------------------------


def _objects(base: Path, relative: Any, what: str) -> list[Resource]:
    if not isinstance(relative, str) or not relative:
        raise CaseError(f"must define {what}")
    file = base / relative
    if not file.is_file():
        raise CaseError(f"{what} {relative}: no such file")
    loaded = load_file(file)
    if loaded.errors:
        raise CaseError(f"reading {what}: {loaded.errors[0]}")
    if loaded.skipped:
        raise CaseError(f"reading {what}: {loaded.skipped[0].path}:{loaded.skipped[0].line}: "
                        f"{loaded.skipped[0].reason}")
    if not loaded.resources:
        raise CaseError(f"{what} {relative} defines no YAML objects")
    return loaded.resources


def _one_object(base: Path, relative: Any, what: str) -> Resource:
    objects = _objects(base, relative, what)
    if len(objects) != 1:
        raise CaseError(f"{what} {relative} defines {len(objects)} objects, want exactly 1")
    return objects[0]


def read_template(base: Path, relative: Any) -> tuple[Template, dict[str, Any]]:
    res = _one_object(base, relative, "template")
    if res.kind != "ConstraintTemplate":
        raise CaseError(f"template {relative} is a {res.kind}, not a ConstraintTemplate")
    try:
        template = parse_template(res.obj, source=res.path)
    except ValueError as exc:
        raise CaseError(f"adding template: {exc}") from None
    if template.rego and template.rego_version == "v1" and any(
            _REGO_V1_IMPORT.search(m) for m in (template.rego, *template.libs)):
        raise CaseError("adding template: bad import: Gatekeeper rejects `import rego.v1` (write v1 syntax "
                        "without it)")
    return template, res.obj


def _openapi_to_jsonschema(schema: Any) -> Any:
    """OpenAPI v3 (as in CRDs) to JSON Schema: `nullable`, int-or-string; Kubernetes extensions dropped."""
    if isinstance(schema, list):
        return [_openapi_to_jsonschema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key.startswith("x-kubernetes-") or key in ("nullable", "default", "example", "externalDocs"):
            continue
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {k: _openapi_to_jsonschema(v) for k, v in (value or {}).items()}
        else:
            out[key] = _openapi_to_jsonschema(value)
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


_STRINGS = {"type": "array", "items": {"type": "string"}}
_SELECTOR = {"type": "object", "properties": {
    "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
    "matchExpressions": {"type": "array", "items": {"type": "object", "required": ["key", "operator"], "properties": {
        "key": {"type": "string"}, "operator": {"type": "string"}, "values": _STRINGS}}}}}
MATCH_SCHEMA = {"type": "object", "properties": {
    "kinds": {"type": "array", "items": {"type": "object", "properties": {"apiGroups": _STRINGS, "kinds": _STRINGS}}},
    "scope": {"type": "string"}, "namespaces": _STRINGS, "excludedNamespaces": _STRINGS,
    "labelSelector": _SELECTOR, "namespaceSelector": _SELECTOR, "name": {"type": "string"},
    "source": {"type": "string"}}}


def schema_errors(template: Template, constraint_obj: dict[str, Any]) -> list[str]:
    """What is wrong with a constraint's `spec.parameters` (template schema) and `spec.match` (Gatekeeper's)."""
    import jsonschema

    spec = constraint_obj.get("spec") or {}
    if not isinstance(spec, dict):
        return ["spec: not an object"]
    checks = [("spec.match", MATCH_SCHEMA, spec.get("match"))]
    if template.parameters_schema:
        checks.append(("spec.parameters", _openapi_to_jsonschema(template.parameters_schema), spec.get("parameters")))
    problems = []
    for where, schema, value in checks:
        if value is None:
            continue
        for error in jsonschema.Draft4Validator(schema).iter_errors(value):
            path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            problems.append(f"{where}{path}: {error.message}")
    return sorted(problems)


def read_constraint(base: Path, relative: Any, template: Template) -> tuple[Constraint | None, list[str]]:
    """The constraint, or (None, schema problems) when it fails schema validation."""
    res = _one_object(base, relative, "constraint")
    if res.api_version.rpartition("/")[0] != CONSTRAINT_GROUP:
        raise CaseError(f"constraint {relative} is not in group {CONSTRAINT_GROUP} (apiVersion {res.api_version})")
    if res.kind != template.kind:
        raise CaseError(f"adding constraint: no template for constraint kind {res.kind} (the template defines "
                        f"{template.kind})")
    problems = schema_errors(template, res.obj)
    if problems:
        return None, problems
    try:
        return parse_constraint(res.obj, template, source=res.path), []
    except (ValueError, KeyError) as exc:
        raise CaseError(f"adding constraint: {exc}") from None


# -- turning a case into engine inputs ------------------------------------------------------------------------


def _admission_request(obj: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An AdmissionReview's request as `input.review` and the objects matching is tried on."""
    request = obj.get("request")
    if not isinstance(request, dict):
        raise CaseError("request did not actually pass in an AdmissionRequest")
    if request.get("object") is None and request.get("oldObject") is None:
        raise CaseError('AdmissionRequest does not contain an "object" or "oldObject" to review')
    req = copy.deepcopy(request)
    req.setdefault("uid", "")
    req["kind"] = {"group": "", "version": "", "kind": "", **(req.get("kind") or {})}
    req.setdefault("operation", "")
    req.setdefault("userInfo", {})
    req.setdefault("object", None)
    req.setdefault("oldObject", None)
    if req["operation"] == "DELETE":  # Gatekeeper reviews the old object on DELETE
        if req["oldObject"] is None:
            raise CaseError("DELETE AdmissionRequest without oldObject")
        req["object"] = req["oldObject"]
    candidates = []
    for candidate in (req["object"], req["oldObject"]):
        if isinstance(candidate, dict):
            item = candidate
            namespace = req.get("namespace")
            if namespace and not (candidate.get("metadata") or {}).get("namespace"):
                item = copy.deepcopy(candidate)
                item.setdefault("metadata", {})["namespace"] = namespace
            candidates.append(item)
    return req, candidates


def case_review(obj: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """`input.review` for a case object (a plain object or an AdmissionReview) and the objects to match."""
    if obj.get("kind") == "AdmissionReview" and str(obj.get("apiVersion", "")).startswith("admission.k8s.io/"):
        return _admission_request(obj)
    return review(obj), [obj]


def match_case(constraint: Constraint, candidates: list[dict[str, Any]],
               namespaces: dict[str, dict[str, Any]]) -> bool | str:
    """True/False, or the autoreject message when a namespaceSelector needs an unknown Namespace."""
    undecided = None
    for obj in candidates:
        verdict = matches(constraint.match, obj, namespaces)
        if verdict is True:
            return True
        if isinstance(verdict, Undecided):
            undecided = (obj, verdict)
    if undecided is not None:
        name = (undecided[0].get("metadata") or {}).get("name", "")
        return (f"error matching the requested object: {name} :namespace selector for namespace-scoped object "
                "but missing Namespace")
    return False


# -- assertions -----------------------------------------------------------------------------------------------


def check_assertion(assertion: Any, messages: list[str]) -> None:
    """Raise CaseError unless the assertion holds for the result messages (gator's wording)."""
    if not isinstance(assertion, dict):
        raise CaseError(f"assertion must be a mapping, not {assertion!r}")
    pattern = assertion.get("message")
    if pattern is not None:
        try:
            regex = re.compile(str(pattern))
        except re.error as exc:
            raise CaseError(f"invalid message regex {pattern!r}: {exc}") from None
        matching = sum(1 for m in messages if regex.search(m))
    else:
        matching = len(messages)
    want = assertion.get("violations", "yes")
    want = {True: "yes", False: "no"}.get(want, want) if isinstance(want, bool) else want
    about = f" containing {json.dumps(str(pattern))}" if pattern is not None else ""
    got = f"got {matching} violations{about}"
    if isinstance(want, int):
        if want < 0:
            raise CaseError('assertion.violations, if set, must be a nonnegative integer, "yes", or "no"')
        problem = None if matching == want else f"{got} but want exactly {want}"
    elif want == "yes":
        problem = None if matching else f"{got} but want at least 1"
    elif want == "no":
        problem = None if not matching else f"{got} but want none"
    else:
        raise CaseError('assertion.violations, if set, must be a nonnegative integer, "yes", or "no"')
    if problem:
        raise CaseError(f"{problem}: got messages {json.dumps(messages)}")


# -- running --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Pending:
    """A case waiting for the engine: its input, the template key and the inventory it needs."""

    result: CaseResult
    assertions: list[Any]
    key: str
    inventory_key: tuple[str, ...]
    input: str
    started: float


@dataclass(slots=True)
class _Plan:
    suites: list[SuiteResult] = field(default_factory=list)
    templates: dict[str, Template] = field(default_factory=dict)  # key -> template (kind == key)
    pending: list[_Pending] = field(default_factory=list)
    inventories: dict[tuple[str, ...], list[Resource]] = field(default_factory=dict)
    compile_targets: dict[str, list[TestResult]] = field(default_factory=dict)  # key -> tests using it


class _TemplateKeys:
    """One backend key per distinct template file (kinds can repeat across suites)."""

    def __init__(self, plan: _Plan) -> None:
        self._plan = plan
        self._by_file: dict[Path, tuple[str, Template]] = {}
        self._keys: set[str] = set()

    def get(self, base: Path, relative: str) -> tuple[str, Template]:
        """The backend key and the template as written (its own kind)."""
        file = (base / relative).resolve()
        if file in self._by_file:
            return self._by_file[file]
        template, _ = read_template(base, relative)
        key, n = template.kind, 1
        while key in self._keys:
            n += 1
            key = f"{template.kind}_{n}"
        self._keys.add(key)
        if template.rego is not None:
            self._plan.templates[key] = replace(template, kind=key)
        self._by_file[file] = (key, template)
        return key, template


def _plan_case(plan: _Plan, base: Path, case: dict[str, Any], key: str,
               constraint: Constraint) -> _Pending | CaseResult:
    started = time.perf_counter()
    result = CaseResult(name=str(case.get("name", "")))
    try:
        if not case.get("object"):
            raise CaseError("must define object")
        assertions = case.get("assertions")
        if not isinstance(assertions, list) or not assertions:
            raise CaseError("assertions must be non-empty")
        obj = _one_object(base, case["object"], "object")
        inventory_files = case.get("inventory") or []
        if not isinstance(inventory_files, list):
            raise CaseError("inventory must be a list of files")
        inventory: list[Resource] = []
        for relative in inventory_files:
            inventory.extend(_objects(base, relative, "inventory"))
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
        _assert(result, assertions)
        result.seconds = time.perf_counter() - started
        return result
    text = json.dumps({"parameters": constraint.parameters, "review": review_doc}, sort_keys=True)
    return _Pending(result=result, assertions=assertions, key=key, inventory_key=inventory_key, input=text,
                    started=time.perf_counter() - started)


def _assert(result: CaseResult, assertions: list[Any]) -> None:
    messages = [r["msg"] for r in result.results]
    try:
        for assertion in assertions:
            check_assertion(assertion, messages)
    except CaseError as exc:
        result.status, result.error = FAIL, str(exc)


def _plan_test(plan: _Plan, keys: _TemplateKeys, base: Path, test: dict[str, Any], run_filter: Filter) -> TestResult:
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
        if isinstance(planned, _Pending):
            plan.pending.append(planned)
            out.cases.append(planned.result)
        else:
            out.cases.append(planned)
    out.seconds = time.perf_counter() - started
    return out


def plan_suites(suites: list[tuple[Path, dict[str, Any]]], run_filter: Filter) -> _Plan:
    plan = _Plan()
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


def _record_outcome(pending: _Pending, outcome: Any, error: str | None) -> None:
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
    _assert(result, pending.assertions)


def evaluate_plan(plan: _Plan, new_backend: Callable[[], Backend], timeout: float) -> None:
    """Compile every template once (a broken one fails its tests), then evaluate the cases per inventory.

    A backend that says it is `reloadable` (the OPA server) is loaded again for each inventory; any other gets
    a fresh instance per inventory, so that no data of one case leaks into another.
    """
    backend = new_backend()
    try:
        compile_errors = backend.load(list(plan.templates.values()), build_inventory([]))
        for key, message in compile_errors.items():
            for test in plan.compile_targets.get(key, []):
                test.status, test.error = FAIL, f"adding template: {message}"
                for case in test.cases:
                    if case.status != SKIP:
                        case.status, case.error = SKIP, ""
        groups: dict[tuple[str, ...], list[_Pending]] = {}
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
                load_errors = backend.load(templates, build_inventory(plan.inventories[inventory_key]))
            run = runner.run(backend, [((p.key,), p.input) for p in members], timeout=timeout, workers=1)
            share = (time.perf_counter() - started) / len(members)
            for index, pending in enumerate(members):
                error = load_errors.get(pending.key) or run.errors.get(pending.key)
                outcome = run.outcomes.get(index, {}).get(pending.key, [])
                _record_outcome(pending, outcome, error)
                pending.result.seconds = pending.started + share
    finally:
        backend.close()


def verify(targets: list[str], *, run_filter: str | None = None, engine: str = "regorus",
           opa_url: str | None = None, timeout: float = 10.0,
           make: Callable[[str, str | None], Backend] = make_backend) -> list[SuiteResult]:
    """Run every suite under ``targets``; raises UsageError when there is nothing to run."""
    flt = Filter.parse(run_filter)
    suites = find_suites(targets)
    if not suites:
        raise UsageError(f"no Suite files (kind: Suite, apiVersion: {SUITE_GROUP}/...) found in "
                         f"{', '.join(targets)}")
    plan = plan_suites(suites, flt)
    if plan.templates:
        evaluate_plan(plan, lambda: make(engine, opa_url), timeout)
    for suite in plan.suites:
        suite.seconds = sum(t.seconds + sum(c.seconds for c in t.cases) for t in suite.tests)
    return plan.suites


# -- go-test-style output -------------------------------------------------------------------------------------


def _s(seconds: float) -> str:
    return f"{seconds:.3f}s"


def render(suites: list[SuiteResult], *, verbose: bool = True) -> Iterator[str]:
    """Lines of go-test-style output (without newlines), ending with PASS/FAIL and a count summary."""
    counts = {PASS: 0, FAIL: 0, SKIP: 0}
    not_evaluated = 0
    for suite in suites:
        for test in suite.tests:
            if test.status == SKIP:
                if verbose:
                    yield f"=== SKIP  {test.name}"
                continue
            if verbose:
                yield f"=== RUN   {test.name}"
            if test.status == NOT_EVALUATED:
                not_evaluated += 1
                yield f"--- NOT EVALUATED: {test.name}\t({test.error})"
                continue
            for case in test.cases:
                counts[case.status] += 1
                if case.status == SKIP:
                    if verbose:
                        yield f"    === SKIP  {case.name}"
                    continue
                if verbose:
                    yield f"    === RUN   {case.name}"
                    for note in case.notes:
                        yield f"        note: {note}"
                if case.status == FAIL:
                    yield f"    --- FAIL: {case.name}\t({_s(case.seconds)})"
                    yield f"        {case.error}"
                elif verbose:
                    yield f"    --- PASS: {case.name}\t({_s(case.seconds)})"
            seconds = test.seconds + sum(c.seconds for c in test.cases)
            if test.failed:
                yield f"--- FAIL: {test.name}\t({_s(seconds)})"
                if test.error:
                    yield f"    {test.error}"
            elif verbose:
                yield f"--- PASS: {test.name}\t({_s(seconds)})"
        missing = sum(1 for t in suite.tests if t.status == NOT_EVALUATED)
        extra = f"\t({missing} test{'s' if missing != 1 else ''} NOT EVALUATED)" if missing else ""
        extra = "\t(suite skipped)" if suite.skipped else extra
        yield f"{'FAIL' if suite.failed else 'ok'}\t{suite.path}\t{_s(suite.seconds)}{extra}"
    failed_tests = sum(1 for s in suites for t in s.tests if t.failed)
    yield "FAIL" if failed_tests else "PASS"
    summary = (f"kguard verify: {len(suites)} suites; cases: {counts[PASS]} passed, {counts[FAIL]} failed, "
               f"{counts[SKIP]} skipped; {failed_tests} tests failed")
    if not_evaluated:
        summary += f"; {not_evaluated} tests NOT EVALUATED (CEL-only or expansion)"
    yield summary


def exit_code(suites: list[SuiteResult]) -> int:
    return 1 if any(s.failed for s in suites) else 0
