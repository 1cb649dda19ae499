"""regorus' virtual machine for the shipped library (`scanner.engine.regorus_rvm`): what the RVM gets wrong is
rewritten or left to the interpreter, verdicts equal the interpreter's, and the library really runs on it."""

from __future__ import annotations

import json
import textwrap
from dataclasses import replace

import pytest
import regorus

from scanner.engine.regorus_backend import RegorusBackend
from scanner.engine.regorus_rvm import Program, for_vm
from scanner.scan import ScanOptions, load_templates
from tests.engine.conftest import constraint, template


def _interpreted(module: str, rule: str, data: str = "{}", input_json: str = "{}") -> object:
    engine = regorus.Engine()
    engine.add_policy("m.rego", module)
    engine.add_data_json(data)
    engine.set_input_json(input_json)
    value = json.loads(engine.eval_rule_as_json(rule))
    return None if value == "<undefined>" else value


def _on_vm(module: str, rule: str, data: str = "{}", input_json: str = "{}") -> object:
    return Program(["m.rego", module], [rule], data, lambda: [("m.rego", module)]).evaluate(rule, input_json)


def _shipped(write_templates, kind: str, name: str, rego: str):
    """A template of ``rego`` with one constraint, marked as kguard's own library (so regorus runs it on the RVM)."""
    options = ScanOptions(template_dirs=[write_templates(template(kind, rego), constraint(kind, name))],
                          default_policies=False)
    templates = load_templates(options)
    return type(templates)({k: replace(t, trusted=True) for k, t in templates.templates.items()},
                           list(templates.constraints))


UNDEFINED_ASSIGNMENT = textwrap.dedent("""\
    package m
    import rego.v1
    known := {"a": 1}
    fires contains 1 if { r := known["missing"]; true }
    """)

# Each module has rules `out` built so that `x := <undefined>` (and its kin) decide the value.
GUARDED = [
    'out contains k if { some k in ["a", "b", "z"]; v := data.d[k]; true }',
    'f(k) := r if { r := data.d[k] } else := "fallback"\nout := [f("a"), f("z")]',
    'out := [v | some k in ["a", "z"]; v := data.d[k]; true]',
    'out := {k: v | some k in ["a", "z"]; v := data.d[k]}',
    'p if x := data.d.z\nout := {"p": p} if p else := "p undefined"',
    'out := r if { [a, b] := data.pair; r := a + b }',
    'out contains v if { v := data.d.a; w := data.d.z } # both bound on one line',
    'g(k) := r if { r := object.get(data.d, k, null); r != null } else := 0\nout := [g("a"), g("z")]',
    'out := x if { x := false }',
    'out contains n if { some n in [1, 2]; m := {1: "one"}[n]; type_name(m) == "string" }',
]


def test_the_rvm_itself_still_needs_the_guard() -> None:
    """A canary: regorus' RVM binds `x := e` with `e` undefined and carries on (OPA and the interpreter fail the
    body). When a regorus release fixes that, this fails and `for_vm`'s guard may go."""
    assert _interpreted(UNDEFINED_ASSIGNMENT, "data.m.fires") == []
    raw = regorus.Program.compile_from_modules("{}", [("m.rego", UNDEFINED_ASSIGNMENT)], ["data.m.fires"])
    vm = regorus.Rvm()
    vm.load_program(raw)
    vm.set_input_json("{}")
    assert json.loads(vm.execute_entry_point("data.m.fires")) == [1]
    assert _on_vm(for_vm(UNDEFINED_ASSIGNMENT), "data.m.fires") == []


@pytest.mark.parametrize("rules", GUARDED)
def test_guarded_modules_evaluate_as_the_interpreter_does(rules: str) -> None:
    module = f"package m\nimport rego.v1\n{rules}\n"
    data = json.dumps({"d": {"a": 1, "b": False}, "pair": [1, 2]})
    guarded = for_vm(module)
    assert guarded is not None and "type_name(" in guarded
    assert _on_vm(guarded, "data.m.out", data) == _interpreted(module, "data.m.out", data)
    assert _interpreted(guarded, "data.m.out", data) == _interpreted(module, "data.m.out", data)


@pytest.mark.parametrize("body", [
    "some v in [1]; v > 5",
    "[1][_] > 5",
    "[1][x] > 5",
    "some x; [1][x] > 5",
    "every v in [1] { v > 5 }",
])
def test_an_else_after_an_iterating_body_is_left_to_the_interpreter(body: str) -> None:
    """regorus' RVM skips the `else` when an iteration before it found nothing (0.13.0 and 0.14.1)."""
    module = f"package m\nimport rego.v1\nout := 1 if {{ {body} }} else := 2\n"
    assert _interpreted(module, "data.m.out") == 2
    assert for_vm(module) is None


@pytest.mark.parametrize("module", [
    "package m\nimport rego.v1\nf(k) := 1 if { [1][k] > 5 } else := 2\nout := f(0)\n",  # bound: a lookup
    "package m\nimport rego.v1\nout := 1 if { x := 0; [1][x] > 5 } else := 2\n",
    "package m\nimport rego.v1\nout := 1 if { count([v | some v in [1]; v > 5]) > 0 } else := 2\n",
    "package m\nimport rego.v1\nout := 1 if { some v in [9]; v > 5 }\n",  # no else
])
def test_lookups_and_comprehensions_before_an_else_run_on_the_vm(module: str) -> None:
    guarded = for_vm(module)
    assert guarded is not None
    assert _on_vm(guarded, "data.m.out") == _interpreted(module, "data.m.out")


def test_a_module_the_vm_cannot_be_trusted_with_is_evaluated_by_the_interpreter(write_templates) -> None:
    from scanner.engine.evaluate import evaluate
    from scanner.load.files import load_text

    rego = """
        package k8sbad
        import rego.v1
        label(obj) := "found" if { some k, _ in obj.metadata.labels; k == "nope" } else := "none"
        violation contains {"msg": label(input.review.object)}
    """
    shipped = _shipped(write_templates, "K8sBad", "bad", rego)
    resource = load_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {a: b}}\n", "p.yaml").resources[0]
    backend = RegorusBackend()
    try:
        run = evaluate([resource], shipped, backend, timeout=30)
        assert backend._trusted and all(shared.program is None for shared in backend._shared)
    finally:
        backend.close()
    assert [f.message for f in run.findings] == ["none"]


def test_the_shipped_library_runs_on_the_vm(tmp_path) -> None:
    """Every engine of the library kguard ships gets a program, with an entry point per template and per set of
    kinds evaluated together: none is silently left to the slower interpreter."""
    from scanner.engine.evaluate import evaluate
    from scanner.load.files import load_text

    manifest = textwrap.dedent("""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, namespace: shop}
        spec:
          template:
            spec:
              containers: [{name: c, image: nginx}]
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRoleBinding
        metadata: {name: admin}
        roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
        subjects: [{kind: ServiceAccount, name: web, namespace: shop}]
        """)
    resources = load_text(manifest, "m.yaml").resources
    templates = load_templates(ScanOptions())
    assert templates.templates and all(t.trusted for t in templates.templates.values())
    runs = {}
    for vm in (True, False):
        backend = RegorusBackend(vm=vm)
        try:
            runs[vm] = evaluate(resources, templates, backend, timeout=30)
            programs = [shared.program for shared in backend._shared]
            assert programs and all((p is not None) == vm for p in programs)
            # while the RVM evaluates, the interpreter never holds the inventory (26 MB at 50,000 objects)
            assert all(shared.data_pending == vm for shared in backend._shared)
            if vm:
                assert all(any(".violation" in e for e in p.entry_points) for p in programs)
                assert any("kguard_aggregate" in e for p in programs for e in p.entry_points)
        finally:
            backend.close()
    assert [f.message for f in runs[True].findings] == [f.message for f in runs[False].findings]
    assert {f.rule_id for f in runs[True].findings} >= {"rbac-broad-role-binding", "pss-run-as-non-root"}


def test_what_the_vm_cannot_finish_is_evaluated_by_the_interpreter_with_the_inventory(write_templates) -> None:
    """The RVM stops after 25,000 instructions (a limit of regorus' own); the interpreter then evaluates the review,
    given the inventory (which it does not hold while the RVM evaluates)."""
    from scanner.engine.evaluate import evaluate
    from scanner.load.files import load_text

    rego = """
        package k8slong
        import rego.v1
        violation contains {"msg": sprintf("%d namespaces, %d steps", [count(data.inventory.cluster.v1.Namespace), n])}
        if {
            n := count([x | some x in numbers.range(1, 40000); x > 0])
        }
    """
    shipped = _shipped(write_templates, "K8sLong", "long", rego)
    text = "".join(f"---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: ns{i}}}\n" for i in range(3))
    resources = load_text(text, "ns.yaml").resources
    backend = RegorusBackend()
    try:
        run = evaluate(resources, shipped, backend, timeout=30)
        shared = backend._shared[0]
        assert shared.program is not None and not shared.data_pending  # the fallback gave the interpreter the data
    finally:
        backend.close()
    assert run.errors == []
    assert [f.message for f in run.findings] == ["3 namespaces, 40000 steps"] * 3


def test_a_panic_of_the_vm_is_evaluated_again_by_the_interpreter(write_templates) -> None:
    """pyo3 turns a Rust panic into PanicException, a BaseException that `except Exception` would let through and
    end the run: the program raises it as RuntimeError, and the interpreter evaluates the review."""
    from scanner.engine.evaluate import evaluate
    from scanner.load.files import load_text

    class PanicException(BaseException):  # pyo3's name for it
        pass

    class Panicking:
        def __init__(self, vm) -> None:
            self.vm = vm

        def set_input_json(self, text: str) -> None:
            self.vm.set_input_json(text)

        def execute_entry_point(self, entry_point: str) -> str:
            raise PanicException("index out of bounds")

    rego = """
        package k8sname
        import rego.v1
        violation contains {"msg": sprintf("%s is here", [input.review.object.metadata.name])}
    """
    shipped = _shipped(write_templates, "K8sName", "named", rego)
    resource = load_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n", "p.yaml").resources[0]
    backend = RegorusBackend()
    original = Program.__init__

    def panicking(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        self._vm = Panicking(self._vm)

    try:
        Program.__init__ = panicking
        run = evaluate([resource], shipped, backend, timeout=30)
    finally:
        Program.__init__ = original
        backend.close()
    assert run.errors == [] and [f.message for f in run.findings] == ["p is here"]


def test_values_once_evaluates_with_other_data_in_a_vm_of_its_own() -> None:
    """`Program.values_once` (the precomputed rules of a small inventory): each entry point's value with the data
    given, undefined ones left out, and the program's own VM keeps its data."""
    module = "package t\nimport rego.v1\n\nn := count(data.inventory.items)\n\nnothing := 1 if false\n"
    program = Program(["t.rego", module], ["data.t.n", "data.t.nothing"], '{"inventory": {"items": [1, 2]}}',
                      lambda: [("t.rego", module)])
    assert program.values_once(["data.t.n", "data.t.nothing"], '{"inventory": {"items": [1, 2, 3]}}') == {
        "data.t.n": 3}
    assert program.evaluate("data.t.n", "{}") == 2
    program.set_data('{"inventory": {"items": []}}')
    assert program.evaluate("data.t.n", "{}") == 0
