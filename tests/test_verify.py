"""`kguard verify`: Gatekeeper suites with `gator verify` semantics, on gator-style fixture suites."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scanner.cli import app
from scanner.errors import UsageError
from scanner.verify import (
    FAIL,
    NOT_EVALUATED,
    PASS,
    SKIP,
    CaseError,
    Filter,
    SuiteResult,
    check_assertion,
    exit_code,
    find_suites,
    render,
    verify,
)
from tests.fixtures.tools import require_tool

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "verify"
GATOR_COMPARED = ["owner", "inventory", "cel", "failing", "v0-builtins"]  # not slow/: gator would hang on it


def statuses(suites: list[SuiteResult]) -> dict[tuple[str, str], str]:
    """(test, case) -> status; test-level verdicts under case "" ."""
    out = {}
    for suite in suites:
        for test in suite.tests:
            out[(test.name, "")] = FAIL if test.failed else test.status
            for case in test.cases:
                out[(test.name, case.name)] = case.status
    return out


def run_fixture(name: str, **options) -> list[SuiteResult]:
    return verify([str(FIXTURES / name)], **options)


# -- semantics ------------------------------------------------------------------------------------------------


def test_v0_template_with_libs_match_admission_reviews_and_invalid() -> None:
    suites = run_fixture("owner")
    assert statuses(suites) == {
        ("owner-label", ""): PASS,
        ("owner-label", "owned-pod"): PASS,
        ("owner-label", "unowned-pod"): PASS,
        ("owner-label", "team-and-containers"): PASS,
        ("owner-label", "namespace-not-matched"): PASS,
        ("owner-label", "label-selector-exempts"): PASS,
        ("owner-label", "kind-not-matched"): PASS,
        ("owner-label", "admission-create"): PASS,
        ("owner-label", "admission-delete"): PASS,
        ("owner-label", "skipped-case"): SKIP,
        ("parameters-must-match-the-schema", ""): PASS,
        ("namespace-selector", ""): PASS,
        ("namespace-selector", "prod-namespace-in-inventory"): PASS,
        ("namespace-selector", "dev-namespace-in-inventory"): PASS,
        ("skipped-test", ""): SKIP,
    }
    cases = {c.name: c for c in suites[0].tests[0].cases}
    assert [r["msg"] for r in cases["unowned-pod"].results] == ["Pod unowned has no owner label"]
    assert cases["unowned-pod"].results[0]["details"] == {"missing": "owner"}
    assert sorted(r["msg"] for r in cases["team-and-containers"].results) == [
        "3 containers, at most 2", "team Growth is not allowed"]  # maxContainers: the schema default
    assert exit_code(suites) == 0


def test_inventory_comes_only_from_the_case_files() -> None:
    suites = run_fixture("inventory")
    cases = {c.name: c for c in suites[0].tests[0].cases}
    assert {name: c.status for name, c in cases.items()} == {n: PASS for n in cases}
    assert cases["empty-inventory"].results == []
    assert sorted(r["msg"] for r in cases["two-conflicts"].results) == [
        "ingress host api.example.com conflicts with Ingress gw/api",
        "ingress host shop.example.com conflicts with Ingress old/legacy"]


def test_cel_only_template_is_not_evaluated_never_passed() -> None:
    suites = run_fixture("cel")
    assert statuses(suites) == {("cel-only", ""): NOT_EVALUATED, ("cel-and-rego", ""): PASS,
                                ("cel-and-rego", "owned"): PASS, ("cel-and-rego", "unowned"): PASS}
    lines = list(render(suites))
    assert any(line.startswith("--- NOT EVALUATED: cel-only\t(template K8sCelRequiredLabel has only CEL")
               for line in lines)
    assert re.fullmatch(r"ok\ttests/fixtures/verify/cel/suite\.yaml\t\d+\.\d{3}s\t\(1 test NOT EVALUATED\)",
                        lines[-3])
    assert "1 tests NOT EVALUATED" in lines[-1]
    assert exit_code(suites) == 0


EXPECTED_FAILING = {
    ("wrong-expectations", ""): FAIL,
    ("wrong-expectations", "expects-violation-on-owned"): FAIL,
    ("wrong-expectations", "expects-two"): FAIL,
    ("wrong-expectations", "message-does-not-match"): FAIL,
    ("wrong-expectations", "passes"): PASS,
    ("wrong-expectations", "missing-object-file"): FAIL,
    ("wrong-expectations", "two-objects"): FAIL,
    ("wrong-expectations", "no-assertions"): FAIL,
    ("valid-constraint-marked-invalid", ""): FAIL,
    ("constraint-of-another-kind", ""): FAIL,
    ("template-does-not-compile", ""): FAIL,
    ("runtime-error-counts-as-a-violation", ""): PASS,
    ("runtime-error-counts-as-a-violation", "conflict"): PASS,
    ("non-string-msg", ""): FAIL,
    ("non-string-msg", "number-msg"): FAIL,
}


def test_failures_are_reported_like_gator() -> None:
    suites = run_fixture("failing")
    got = statuses(suites)
    # regorus finds the undefined function only when evaluating; the test fails either way
    got.pop(("template-does-not-compile", "never-evaluated"), None)
    assert got == EXPECTED_FAILING
    assert exit_code(suites) == 1
    cases = {c.name: c for t in suites[0].tests for c in t.cases}
    assert cases["expects-two"].error == 'got 1 violations but want exactly 2: got messages ["no owner"]'
    assert cases["no-assertions"].error == "assertions must be non-empty"
    assert cases["two-objects"].error.endswith("defines 2 objects, want exactly 1")
    assert cases["number-msg"].error.startswith("reviewing object: violation msg is not a string")
    assert cases["conflict"].notes and "conflict" in cases["conflict"].notes[0]


def test_go_test_style_output() -> None:
    suites = run_fixture("failing")
    lines = list(render(suites))
    assert "=== RUN   wrong-expectations" in lines
    assert "    === RUN   passes" in lines
    assert any(re.fullmatch(r"    --- PASS: passes\t\(\d+\.\d{3}s\)", line) for line in lines)
    assert any(re.fullmatch(r"    --- FAIL: expects-two\t\(\d+\.\d{3}s\)", line) for line in lines)
    assert any(re.fullmatch(r"--- FAIL: wrong-expectations\t\(\d+\.\d{3}s\)", line) for line in lines)
    assert re.fullmatch(r"FAIL\ttests/fixtures/verify/failing/suite\.yaml\t\d+\.\d{3}s", lines[-3])
    assert lines[-2] == "FAIL"
    assert re.fullmatch(r"kguard verify: 1 suites; cases: 2 passed, [78] failed, [01] skipped; 5 tests failed", lines[-1])
    quiet = list(render(suites, verbose=False))
    assert not any(line.lstrip().startswith(("=== RUN", "--- PASS")) for line in quiet)
    assert any(line.startswith("    --- FAIL: expects-two") for line in quiet)


def test_a_looping_template_does_not_stall_the_run() -> None:
    started = time.monotonic()
    suites = run_fixture("slow", timeout=1.0)
    assert time.monotonic() - started < 20
    assert statuses(suites) == {("looping-template", ""): FAIL, ("looping-template", "loops"): FAIL,
                                ("healthy-template", ""): PASS, ("healthy-template", "still-evaluated"): PASS}
    assert suites[0].tests[0].cases[0].error == "evaluation failed: evaluation timed out after 1s"


def test_v0_deprecated_builtins_with_regorus() -> None:
    assert statuses(run_fixture("v0-builtins"))[("image-registry", "")] == PASS


# -- filters and discovery ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("run", "expected_run"), [
    ("owner-label//^unowned-pod$", {("owner-label", "unowned-pod")}),
    ("^namespace-selector$", {("namespace-selector", "prod-namespace-in-inventory"),
                              ("namespace-selector", "dev-namespace-in-inventory")}),
    ("admission", {("owner-label", "admission-create"), ("owner-label", "admission-delete")}),
])
def test_run_filter(run: str, expected_run: set[tuple[str, str]]) -> None:
    got = statuses(run_fixture("owner", run_filter=run))
    ran = {key for key, status in got.items() if key[1] and status != SKIP}
    assert ran == expected_run


def test_filter_parsing() -> None:
    both = Filter.parse("a//b")
    assert both.test_selected("xa", []) and not both.test_selected("x", ["b"])
    assert both.case_selected("a", "b") and not both.case_selected("a", "c")
    either = Filter.parse("b")
    assert either.test_selected("x", ["b"]) and either.case_selected("b", "x") and either.case_selected("x", "b")
    with pytest.raises(UsageError, match="at most one"):
        Filter.parse("a//b//c")
    with pytest.raises(UsageError, match="invalid regular expression"):
        Filter.parse("(")


def test_find_suites_recursion_and_errors(tmp_path: Path) -> None:
    top = [p.parent.name for p, _ in find_suites([str(FIXTURES)])]
    assert top == []  # suites live one level down: only DIR/... finds them
    recursive = [p.parent.name for p, _ in find_suites([str(FIXTURES) + "/..."])]
    assert recursive == sorted(["cel", "failing", "inventory", "owner", "slow", "v0-builtins"])
    (tmp_path / "notes.txt").write_text("kind: Suite")
    with pytest.raises(UsageError, match="unsupported extension"):
        find_suites([str(tmp_path / "notes.txt")])
    with pytest.raises(UsageError, match="no such file"):
        find_suites([str(tmp_path / "missing")])
    with pytest.raises(UsageError, match="no Suite files"):
        verify([str(tmp_path)])
    (tmp_path / "bad.yaml").write_text("kind: Suite\napiVersion: [\n")
    with pytest.raises(UsageError, match=r"bad\.yaml:\d+"):
        find_suites([str(tmp_path)])


@pytest.mark.parametrize(("assertion", "messages", "problem"), [
    ({}, ["a"], None),
    ({}, [], "got 0 violations but want at least 1"),
    ({"violations": "no"}, [], None),
    ({"violations": False}, ["a"], "got 1 violations but want none"),  # YAML 1.1 `no`
    ({"violations": True}, ["a"], None),
    ({"violations": 2, "message": "^x"}, ["x1", "y", "x2"], None),
    ({"violations": 1, "message": "^x"}, ["x1", "x2"], 'got 2 violations containing "^x" but want exactly 1'),
    ({"violations": -1}, [], "nonnegative integer"),
    ({"violations": "2"}, ["a", "b"], "nonnegative integer"),
    ({"message": "("}, ["a"], "invalid message regex"),
])
def test_assertions(assertion: dict, messages: list[str], problem: str | None) -> None:
    if problem is None:
        check_assertion(assertion, messages)
    else:
        with pytest.raises(CaseError, match=re.escape(problem)):
            check_assertion(assertion, messages)


def test_cli_exit_codes() -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["verify", str(FIXTURES / "owner")])
    assert ok.exit_code == 0, ok.output
    assert "--- PASS: owner-label" in ok.output and ok.output.rstrip().splitlines()[-2] == "PASS"
    failed = runner.invoke(app, ["verify", str(FIXTURES / "failing"), "-q"])
    assert failed.exit_code == 1
    assert "=== RUN" not in failed.output and "--- FAIL: expects-two" in failed.output
    filtered = runner.invoke(app, ["verify", str(FIXTURES / "failing"), "--run", "^passes$"])
    assert filtered.exit_code == 0, filtered.output
    missing = runner.invoke(app, ["verify", str(FIXTURES / "nope")])
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_policy_library_suites_pass() -> None:
    suites = verify([str(REPO / "policies") + "/..."])
    assert suites and exit_code(suites) == 0
    assert all(t.status == PASS for s in suites for t in s.tests)


# -- the reference engine and gator ---------------------------------------------------------------------------


@pytest.mark.integration
def test_opa_engine_gives_the_same_verdicts(opa_on_path: None) -> None:
    for name in ["owner", "inventory", "cel", "failing"]:
        embedded, reference = statuses(run_fixture(name)), statuses(run_fixture(name, engine="opa"))
        if name == "failing":  # OPA rejects the undefined function when compiling, as gator does
            assert embedded.pop(("template-does-not-compile", "never-evaluated")) == FAIL
            assert reference.pop(("template-does-not-compile", "never-evaluated")) == SKIP
        assert reference == embedded, name
    assert statuses(run_fixture("v0-builtins", engine="opa"))[("image-registry", "")] == PASS


def gator_verdicts(target: str) -> dict[tuple[str, str, str], str]:
    """(suite path, test, case) -> PASS/FAIL/SKIP from `gator verify -v` (run in the repository root)."""
    gator = require_tool("gator")
    proc = subprocess.run([str(gator), "verify", "-v", target], cwd=REPO, capture_output=True, text=True,
                          timeout=600, check=False)
    verdicts, pending, test = {}, {}, ""
    for line in proc.stdout.splitlines():
        if m := re.match(r"=== (RUN|SKIP)\s+(.*)$", line):
            test = m.group(2)
            if m.group(1) == "SKIP":
                pending[(test, "")] = SKIP
        elif m := re.match(r"    === SKIP\s+(.*)$", line):
            pending[(test, m.group(1))] = SKIP
        elif m := re.match(r"    --- (PASS|FAIL): (.*)\t\(", line):
            pending[(test, m.group(2))] = m.group(1)
        elif m := re.match(r"--- (PASS|FAIL): (.*)\t\(", line):
            pending[(m.group(2), "")] = m.group(1)
        elif m := re.match(r"(ok|FAIL)\t(\S+)\t", line):
            verdicts.update({(m.group(2), t, c): v for (t, c), v in pending.items()})
            pending = {}
    assert verdicts, f"no verdicts parsed from gator:\n{proc.stdout}\n{proc.stderr}"
    return verdicts


def kguard_verdicts(target: str) -> dict[tuple[str, str, str], str]:
    out = {}
    for suite in verify([str(REPO / target.removesuffix("/..."))
                         + ("/..." if target.endswith("/...") else "")]):
        for (test, case), status in statuses([suite]).items():
            out[(suite.path, test, case)] = status
    return out


@pytest.mark.integration
@pytest.mark.parametrize("fixture", GATOR_COMPARED)
def test_gator_gives_the_same_verdict_per_case(fixture: str) -> None:
    target = f"tests/fixtures/verify/{fixture}/"
    gator, kguard = gator_verdicts(target), kguard_verdicts(target)
    # Known, reported differences: kguard does not evaluate CEL; regorus finds undefined functions at run time;
    # regorus lacks the v0 deprecated built-ins (re_match).
    not_evaluated = {k for k, v in kguard.items() if v == NOT_EVALUATED}
    assert {k[1] for k in not_evaluated} <= {"cel-only"}
    for key in not_evaluated:
        kguard.pop(key)
        gator.pop(key, None)
        for case in [k for k in gator if k[:2] == key[:2]]:
            gator.pop(case)
    if fixture == "failing":
        kguard.pop((f"{target}suite.yaml", "template-does-not-compile", "never-evaluated"))
    assert kguard == gator


@pytest.mark.integration
def test_gator_gives_the_same_verdicts_on_the_policy_library() -> None:
    assert kguard_verdicts("policies/...") == gator_verdicts("policies/...")


def test_rego_v1_import_expansion_and_bad_admission_reviews(tmp_path: Path) -> None:
    for name in ("template.yaml", "constraint.yaml"):
        (tmp_path / name).write_text((FIXTURES / "failing" / name.replace(".", "-owner.")).read_text())
    with_import = (FIXTURES / "failing" / "template-owner.yaml").read_text().replace(
        "package k8sowner\n", "package k8sowner\n              import rego.v1\n")
    (tmp_path / "template-import.yaml").write_text(with_import)
    (tmp_path / "delete.yaml").write_text(
        "apiVersion: admission.k8s.io/v1\nkind: AdmissionReview\nrequest:\n  operation: DELETE\n"
        "  object: {apiVersion: v1, kind: Pod, metadata: {name: p}}\n")
    (tmp_path / "suite.yaml").write_text("""
kind: Suite
apiVersion: test.gatekeeper.sh/v1alpha1
tests:
  - name: rego-v1-import
    template: template-import.yaml
    constraint: constraint.yaml
  - name: expansion
    template: template.yaml
    constraint: constraint.yaml
    expansion: expansion.yaml
    cases: [{name: c, object: delete.yaml, assertions: [{violations: "no"}]}]
  - name: admission
    template: template.yaml
    constraint: constraint.yaml
    cases: [{name: delete-without-old-object, object: delete.yaml, assertions: [{violations: "no"}]}]
""")
    suites = verify([str(tmp_path)])
    tests = {t.name: t for t in suites[0].tests}
    assert tests["rego-v1-import"].status == FAIL and "bad import" in tests["rego-v1-import"].error
    assert tests["expansion"].status == NOT_EVALUATED and "expansion" in tests["expansion"].error
    [case] = tests["admission"].cases
    assert case.status == FAIL and case.error == "DELETE AdmissionRequest without oldObject"
