"""regorus and OPA agree on `not` over operands that may be undefined (issue 10).

OPA evaluates the dynamic operands of a negated expression before the negation, so `not f(input.missing)` makes
the body fail; regorus evaluated the negation as a whole and let the body succeed. kguard rewrites modules for
regorus (`scanner.engine.regorus_compat`); these tests run the same module through the real regorus and the real
OPA and compare.
"""

from __future__ import annotations

import json
import textwrap

import pytest
import regorus

from scanner.engine import regorus_compat
from scanner.engine.opa_backend import OpaBackend
from scanner.engine.regorus_backend import RegorusBackend
from scanner.engine.regorus_compat import hoist_negated_operands
from scanner.engine.templates import Template

# Our own module in the shape that made the engines disagree: an optional parameter (`allowed`) passed to a
# function under `not`, and a rule for the "anything goes" mode that needs no such parameter.
OPTIONAL_RANGE = """\
package k8sgroupranges

violation[{"msg": msg}] {
  setting := input.parameters[field]
  value := input.review.object.spec.securityContext[field]
  not permitted(setting.mode, value, setting.allowed)
  msg := sprintf("%v %v is not permitted", [field, value])
}

permitted("Any", _, _)

permitted("Range", value, allowed) := value_in(value, allowed)

value_in(value, allowed) {
  some i
  value >= allowed[i].lo
  value <= allowed[i].hi
}
"""

# One rule per kind of negated operand OPA evaluates first; `a`, `q` and `r` are the forms it keeps inside.
FORMS = """\
package forms

import future.keywords.in

f(_) := true
g(x) := x == 1
known := 1

a { not input.missing == 1 }
b { not f(input.missing) }
c { not g(input.missing.deeper) }
d { not count(input.missing) > 0 }
e { not startswith(input.missing, "x") }
h { not [input.missing][0] }
i { not f([input.missing]) }
j { not f({"k": input.missing}) }
k { not input.present[input.missing] }
l { not input.present[count(input.missing)] }
m { not f(g(input.missing)) }
n { not f(input.missing) with input.other as 1 }
o { not "x" in input.missing }
p { not input.missing != 1 }
q { not input.missing = 1 }
r { not input.falsy }
s { not f(input.falsy) }
t { not f(1) == input.missing }
u { [z | z := 1; not f(input.missing)] == [] }
v { not count([z | z := input.list[_]; not f(input.missing)]) == 0 }
w { not f(known) }
"""
FORMS_INPUT = {"present": {}, "falsy": False, "list": [1]}


def _regorus_rules(text: str, data: dict, v1: bool = False) -> dict:
    engine = regorus.Engine()
    engine.set_rego_v0(not v1)
    engine.add_policy("forms.rego", text)
    engine.set_input_json(json.dumps(data))
    return json.loads(engine.eval_query_as_json("data.forms"))["result"][0]["expressions"][0]["value"]


def test_the_rewrite_binds_undefined_call_arguments_before_the_negation():
    out = hoist_negated_operands("package p\n\nr { not f(input.x, 1) }\nf(_, _) := true\n", rego_v1=False)

    assert "r { __kguard_hoisted1__ := input.x; not f(__kguard_hoisted1__, 1) }" in out


def test_the_rewrite_keeps_lines_and_leaves_plain_negations_alone():
    text = "package p\n\nr { not input.x }\ns { not input.y == 1 }\nt { x := 1; not f(x) }\nf(_) := true\n"

    assert hoist_negated_operands(text, rego_v1=False) == text


def test_a_body_without_braces_gets_them():
    out = hoist_negated_operands("package p\n\nr if not f(input.x)\nf(_) := true\n", rego_v1=True)

    assert out.splitlines()[2] == "r if { __kguard_hoisted1__ := input.x; not f(__kguard_hoisted1__) }"


def test_with_modifiers_apply_to_the_bindings_too():
    out = hoist_negated_operands("package p\n\nr { not f(input.x) with input.x as 1 }\nf(_) := true\n",
                                 rego_v1=False)

    assert "__kguard_hoisted1__ := input.x with input.x as 1; not f(__kguard_hoisted1__) with input.x as 1" in out


def test_a_module_regorus_cannot_parse_is_returned_unchanged():
    text = "package p\n\nr { not f(input.x) \n"

    assert hoist_negated_operands(text, rego_v1=False) == text


def test_unpatched_regorus_disagrees_with_opa_on_these_forms():
    """The premise: without the rewrite regorus says `true` where OPA says undefined (else the fix is moot)."""
    raw = _regorus_rules(FORMS, FORMS_INPUT)

    assert {"b", "c", "d", "e", "o", "p", "v"} <= {name for name, value in raw.items() if value is True}


@pytest.mark.integration
def test_every_form_agrees_with_opa(opa_on_path, tmp_path):
    import shutil
    import subprocess

    (tmp_path / "forms.rego").write_text(FORMS)
    (tmp_path / "input.json").write_text(json.dumps(FORMS_INPUT))
    proc = subprocess.run([shutil.which("opa"), "eval", "--v0-compatible", "-d", "forms.rego", "-i", "input.json",
                           "-f", "json", "data.forms"], cwd=tmp_path, capture_output=True, text=True, check=True)
    by_opa = json.loads(proc.stdout)["result"][0]["expressions"][0]["value"]
    by_regorus = _regorus_rules(hoist_negated_operands(FORMS, rego_v1=False), FORMS_INPUT)

    assert by_opa == by_regorus
    assert {name for name, value in by_opa.items() if value is True} == {"a", "q", "r", "t", "u"}


def _review(security_context: dict) -> str:
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"securityContext": security_context, "containers": [{"name": "c", "image": "nginx"}]}}
    return json.dumps({"kind": {"group": "", "version": "v1", "kind": "Pod"}, "object": obj, "operation": "CREATE"})


CASES = [  # (parameters, securityContext, violations OPA reports)
    ({"runAsGroup": {"mode": "Any"}}, {"runAsGroup": 199}, []),
    ({"runAsGroup": {"mode": "Any", "allowed": [{"lo": 1, "hi": 2}]}}, {"runAsGroup": 199}, []),
    ({"runAsGroup": {"mode": "Range", "allowed": [{"lo": 100, "hi": 200}]}}, {"runAsGroup": 199}, []),
    ({"runAsGroup": {"mode": "Range", "allowed": [{"lo": 1, "hi": 2}]}}, {"runAsGroup": 199},
     ["runAsGroup 199 is not permitted"]),
    ({"runAsGroup": {"mode": "Range"}}, {"runAsGroup": 199}, []),
]


@pytest.mark.integration
def test_both_backends_give_opas_verdict_on_an_optional_parameter(opa_on_path):
    template = Template(kind="K8sGroupRanges", rego=textwrap.dedent(OPTIONAL_RANGE), rego_version="v0")
    inputs = [f'{{"parameters":{json.dumps(params)},"review":{_review(ctx)}}}' for params, ctx, _ in CASES]
    verdicts = {}
    for backend in (RegorusBackend(), OpaBackend()):
        try:
            assert backend.load([template], {}) == {}
            verdicts[backend.name] = [sorted(v["msg"] for v in outcome)
                                      for outcome in backend.evaluate("K8sGroupRanges", inputs)]
        finally:
            backend.close()

    assert verdicts["regorus"] == verdicts["opa"] == [expected for _, _, expected in CASES]


# -- the rewrites of kguard's own library are remembered in the user cache -----------------------------------------

NEGATING = "package p\n\nr { not f(input.x, 1) }\nf(_, _) := true\n"


@pytest.fixture
def user_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "kguard" / "derived" / regorus_compat.REWRITES


def test_a_remembered_rewrite_is_the_rewrite_and_needs_no_parse_the_next_time(user_cache_dir, monkeypatch):
    expected = hoist_negated_operands(NEGATING, rego_v1=False)
    assert regorus_compat.hoist_remembered(NEGATING, rego_v1=False) == expected
    assert len(list(user_cache_dir.iterdir())) == 1
    monkeypatch.setattr(regorus_compat, "_parse", lambda *_: pytest.fail("parsed again"))
    assert regorus_compat.hoist_remembered(NEGATING, rego_v1=False) == expected


def test_a_remembered_rewrite_is_for_its_exact_text_and_rego_version(user_cache_dir):
    regorus_compat.hoist_remembered(NEGATING, rego_v1=False)
    other = NEGATING.replace("input.x", "input.y")
    assert regorus_compat.hoist_remembered(other, rego_v1=False) == hoist_negated_operands(other, rego_v1=False)
    v1 = "package p\n\nr if not f(input.x)\nf(_) := true\n"
    assert regorus_compat.hoist_remembered(v1, rego_v1=True) == hoist_negated_operands(v1, rego_v1=True)
    assert len(list(user_cache_dir.iterdir())) == 3
    plain = "package p\n\nr { not input.x }\n"  # nothing to rewrite: nothing to remember
    assert regorus_compat.hoist_remembered(plain, rego_v1=False) == plain
    assert len(list(user_cache_dir.iterdir())) == 3


def test_a_damaged_entry_is_derived_again(user_cache_dir):
    expected = regorus_compat.hoist_remembered(NEGATING, rego_v1=False)
    (entry,) = user_cache_dir.iterdir()
    entry.write_bytes(entry.read_bytes().replace(b"not f(", b"f("))  # the checksum no longer matches
    assert regorus_compat.hoist_remembered(NEGATING, rego_v1=False) == expected


def test_templates_from_elsewhere_never_reach_the_cache(user_cache_dir):
    backend = RegorusBackend()
    try:
        negating = Template(kind="K8sNegating", rego=NEGATING.replace("package p", "package k8snegating")
                            .replace("r {", "violation[{\"msg\": \"x\"}] {"))
        assert backend.load([negating], {}) == {}
        assert backend.evaluate("K8sNegating", [json.dumps({"review": {}})]) == [[]]
        assert not user_cache_dir.exists()
    finally:
        backend.close()
