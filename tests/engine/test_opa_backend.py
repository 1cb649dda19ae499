"""The OPA server backend, and that a failing or looping policy cannot kill or stall a scan (both backends)."""

from __future__ import annotations

import json
import socket
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner.engine.backend import EvalFailure
from scanner.engine.opa_backend import (
    BATCH_ID,
    OpaBackend,
    ident_for,
    rewrite_libs,
    rewrite_template,
)
from scanner.engine.templates import Template
from scanner.errors import UsageError
from scanner.load.files import load_text
from scanner.model import Severity
from scanner.scan import ScanOptions, scan_resources
from tests.engine.conftest import constraint, template
from tests.fixtures.opa import OpaServer

V1 = """\
package k8sowner

import data.lib.labels

violation contains {"msg": msg} if {
  not labels.has(input.review.object, input.parameters.key)
  msg := sprintf("%v has no %v label", [input.review.object.metadata.name, input.parameters.key])
}
"""
LIB = """\
package lib.labels

has(obj, key) if obj.metadata.labels[key]
"""
V0 = """\
package k8sregistry

violation[{"msg": msg}] {
  c := input.review.object.spec.containers[_]
  not re_match("^registry\\\\.example/", c.image)
  msg := sprintf("image %v", [c.image])
}
"""


def tpl(kind: str, rego: str, version: str = "v1", libs: tuple[str, ...] = ()) -> Template:
    return Template(kind=kind, rego=textwrap.dedent(rego), libs=libs, rego_version=version)


def review_input(name: str, labels: dict | None = None, images: tuple[str, ...] = ("registry.example/a",),
                 parameters: dict | None = None) -> str:
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "shop", "labels": labels or {}},
           "spec": {"containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]}}
    return json.dumps({"parameters": parameters or {"key": "owner"},
                       "review": {"kind": {"group": "", "version": "v1", "kind": "Pod"}, "object": obj,
                                  "name": name, "namespace": "shop", "operation": "", "uid": "", "userInfo": {}}})


# -- rewriting (no server) ------------------------------------------------------------------------------------


def test_template_is_moved_to_its_own_package_keeping_line_numbers() -> None:
    text = rewrite_template(tpl("K8sOwner", V1 + "x := data.k8sowner.y\n", libs=(LIB,)), "K8sOwner", "s1")[1]
    assert text.splitlines()[0] == "package kguard.templates.K8sOwner import rego.v1"
    assert "import data.kguard.libs.s1.labels" in text
    assert "data.kguard.templates.K8sOwner.y" in text
    assert len(text.splitlines()) == len((V1 + "x := data.k8sowner.y\n").splitlines())
    v0 = rewrite_template(tpl("K8sRegistry", V0, "v0"), "K8sRegistry", "s2")[1]
    assert v0.splitlines()[0] == "package kguard.templates.K8sRegistry"  # v0: parsed as v0 by our server
    already = rewrite_template(tpl("K8sX", "package x\nimport rego.v1\n"), "K8sX", "s3")[1]
    assert already.count("import rego.v1") == 1


def test_libs_move_under_their_lib_set() -> None:
    [(policy_id, text)] = rewrite_libs((LIB,), "s4", v1=True)
    assert policy_id == "kguard/libs/s4/lib0.rego"
    assert text.splitlines()[0] == "package kguard.libs.s4.labels import rego.v1"
    with pytest.raises(ValueError, match="package under lib"):
        rewrite_libs(("package helpers\n",), "s5", v1=False)


def test_identifiers_are_unique_rego_names() -> None:
    taken: set[str] = set()
    assert [ident_for(k, taken) for k in ("K8sA", "K8sA", "9-lives", "")] == ["K8sA", "K8sA_2", "t_9_lives",
                                                                               "template"]


def test_missing_opa_binary_and_bad_url_are_usage_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UsageError, match="needs the `opa` binary on PATH"):
        OpaBackend()
    with pytest.raises(UsageError, match="--opa-url must look like"):
        OpaBackend("localhost:8181")


# -- a server kguard starts ------------------------------------------------------------------------------------


@pytest.fixture
def backend(opa_on_path: None) -> Iterator[OpaBackend]:
    started = OpaBackend(time_limit=5)
    yield started
    started.close()


@pytest.mark.integration
def test_v0_and_v1_templates_side_by_side(backend: OpaBackend) -> None:
    errors = backend.load([tpl("K8sOwner", V1, libs=(LIB,)), tpl("K8sRegistry", V0, "v0"),
                           tpl("K8sV1Deprecated", 'package d\nviolation contains {"msg": "x"} if re_match("a", "a")')],
                          {})
    assert list(errors) == ["K8sV1Deprecated"]  # v1 keeps v1 rules: no deprecated built-ins
    assert "deprecated built-in function calls in expression: re_match" in errors["K8sV1Deprecated"]
    inputs = [review_input("a", {"owner": "x"}), review_input("b", images=("docker.io/b", "registry.example/c"))]
    assert backend.evaluate("K8sOwner", inputs) == [[], [{"msg": "b has no owner label", "details": {}}]]
    assert backend.evaluate("K8sRegistry", inputs) == [[], [{"msg": "image docker.io/b", "details": {}}]]


@pytest.mark.integration
def test_templates_are_isolated_like_gatekeeper(backend: OpaBackend) -> None:
    """Same package and same lib package in two templates: each sees only its own code."""
    lib_a = "package lib.pick\n\nvalue := \"a\"\n"
    lib_b = "package lib.pick\n\nvalue := \"b\"\n"
    main = 'package same\n\nimport data.lib.pick\n\nviolation contains {"msg": pick.value} if true\n'
    assert backend.load([tpl("K8sA", main, libs=(lib_a,)), tpl("K8sB", main, libs=(lib_b,))], {}) == {}
    assert backend.evaluate("K8sA", [review_input("x")]) == [[{"msg": "a", "details": {}}]]
    assert backend.evaluate("K8sB", [review_input("x")]) == [[{"msg": "b", "details": {}}]]


@pytest.mark.integration
def test_inventory_is_replaced_on_each_load(backend: OpaBackend) -> None:
    rego = ('package inv\n\nviolation contains {"msg": name} if {\n'
            '  some name, _ in data.inventory.namespace.shop.v1.ConfigMap\n}\n')
    template = tpl("K8sInv", rego)
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "one"}}
    assert backend.load([template], {"cluster": {}, "namespace": {"shop": {"v1": {"ConfigMap": {"one": cm}}}}}) == {}
    assert backend.evaluate("K8sInv", [review_input("x")]) == [[{"msg": "one", "details": {}}]]
    assert backend.load([template], {}) == {}
    assert backend.evaluate("K8sInv", [review_input("x")]) == [[]]


@pytest.mark.integration
def test_a_runtime_error_is_pinned_on_its_input(backend: OpaBackend) -> None:
    rego = """\
    package conflict

    owner := "a" if input.review.object.metadata.labels.bad
    owner := "b" if input.review.object.metadata.labels.bad

    violation contains {"msg": owner} if owner
    violation contains {"msg": 42} if input.review.object.metadata.labels.number
    violation contains {"no": "msg"} if true
    """
    assert backend.load([tpl("K8sConflict", rego)], {}) == {}
    outcomes = backend.evaluate("K8sConflict", [review_input("ok"), review_input("bad", {"bad": "1"}),
                                                review_input("num", {"number": "1"})])
    assert outcomes[0] == []  # an element without msg is dropped, as in Gatekeeper
    assert isinstance(outcomes[1], EvalFailure) and "eval_conflict_error" in outcomes[1].message
    assert "kguard/templates/K8sConflict.rego:4" in outcomes[1].message
    assert outcomes[2] == EvalFailure("violation msg is not a string: 42")
    units = backend.evaluate_units([(("K8sConflict",), review_input("ok")),
                                    (("K8sConflict",), review_input("bad", {"bad": "1"}))])
    assert units[0] == {"K8sConflict": []} and isinstance(units[1]["K8sConflict"], EvalFailure)


@pytest.mark.integration
def test_several_templates_per_input_in_one_query(backend: OpaBackend) -> None:
    assert backend.load([tpl("K8sOwner", V1, libs=(LIB,)), tpl("K8sRegistry", V0, "v0")], {}) == {}
    results = backend.evaluate_units([(("K8sOwner", "K8sRegistry"), review_input("p", images=("docker.io/x",))),
                                      (("K8sRegistry",), review_input("q", {"owner": "me"}))])
    assert results == [{"K8sOwner": [{"msg": "p has no owner label", "details": {}}],
                        "K8sRegistry": [{"msg": "image docker.io/x", "details": {}}]},
                       {"K8sRegistry": []}]


LOOP = """\
package loop

violation contains {"msg": "unreachable"} if {
  some i in numbers.range(1, 30000)
  some j in numbers.range(1, 30000)
  i * j == -1
}
"""


@pytest.mark.integration
def test_a_looping_query_is_cut_off_and_the_server_stays_responsive(backend: OpaBackend) -> None:
    assert backend.load([tpl("K8sLoop", LOOP), tpl("K8sOwner", V1, libs=(LIB,))], {}) == {}
    backend.set_time_limit(1)
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="timed out after 1s"):
        backend.evaluate("K8sLoop", [review_input("x")])
    assert time.monotonic() - started < 3
    started = time.monotonic()
    assert backend.evaluate("K8sOwner", [review_input("y", {"owner": "me"})]) == [[]]
    assert time.monotonic() - started < 0.5  # OPA cancelled the abandoned query


@pytest.mark.integration
def test_a_broken_template_is_left_out_when_starting(backend: OpaBackend) -> None:
    broken = tpl("K8sBroken", 'package broken\n\nviolation contains {"msg": m} if m := undefined_fn(1)\n')
    errors = backend.load([broken, tpl("K8sOwner", V1, libs=(LIB,))], {})
    assert list(errors) == ["K8sBroken"]
    assert "kguard/templates/K8sBroken.rego:3: rego_type_error: undefined function undefined_fn" in errors["K8sBroken"]
    assert backend.evaluate("K8sOwner", [review_input("z")]) == [[{"msg": "z has no owner label", "details": {}}]]


@pytest.mark.integration
def test_close_stops_the_server_we_started(opa_on_path: None) -> None:
    started = OpaBackend()
    assert started.load([tpl("K8sOwner", V1, libs=(LIB,))], {}) == {}
    port = int(started.url.rsplit(":", 1)[1])
    started.close()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


# -- a server given by URL (OPA 1.x default: Rego v1 only) ------------------------------------------------------


def _policy_ids(url: str) -> list[str]:
    with urllib.request.urlopen(f"{url}/v1/policies", timeout=10) as response:
        return sorted(p["id"] for p in json.loads(response.read())["result"])


@pytest.mark.integration
def test_a_v1_server_by_url(opa_server: OpaServer) -> None:
    given = OpaBackend(opa_server.url, time_limit=5)
    try:
        v0_rule_heads = tpl("K8sPlainV0", 'package plain\n\nviolation[{"msg": "x"}] { true }\n', "v0")
        errors = given.load([tpl("K8sOwner", V1, libs=(LIB,)), tpl("K8sRegistry", V0, "v0")], {})
        assert list(errors) == ["K8sRegistry"]
        assert "start it with --v0-compatible" in errors["K8sRegistry"]
        assert given.evaluate("K8sOwner", [review_input("u")]) == [[{"msg": "u has no owner label", "details": {}}]]
        assert given.load([v0_rule_heads], {}) != {}  # v0 rule heads need a v0-compatible server
        assert BATCH_ID in _policy_ids(opa_server.url)
    finally:
        given.close()
    assert not [p for p in _policy_ids(opa_server.url) if p.startswith("kguard/")]  # we leave no modules behind


# -- robustness: a failing and a looping policy, through a whole scan, for both backends -----------------------

GOOD = """
package good
violation contains {"msg": sprintf("%v is here", [input.review.object.metadata.name])} if true
"""
CONFLICT = """
package conflict
x := 1 if input.review.object.kind == "ConfigMap"
x := 2 if input.review.object.kind == "ConfigMap"
violation contains {"msg": "never"} if x == 3
"""
NUMBER_MSG = """
package numbermsg
violation contains {"msg": 7} if input.review.object.kind == "ConfigMap"
"""
OBJECTS = "\n---\n".join(
    f"apiVersion: v1\nkind: {'ConfigMap' if i % 2 else 'Secret'}\nmetadata:\n  name: o{i}\n  namespace: shop\n"
    for i in range(6))


@pytest.mark.parametrize("engine", ["regorus", pytest.param("opa", marks=pytest.mark.integration)])
def test_failing_and_looping_policies_do_not_kill_or_stall_the_scan(engine: str, write_templates,
                                                                     request: pytest.FixtureRequest) -> None:
    if engine == "opa":
        request.getfixturevalue("opa_on_path")
    templates = write_templates(*[doc for kind, rego in [("K8sGood", GOOD), ("K8sConflict", CONFLICT),
                                                         ("K8sNumberMsg", NUMBER_MSG), ("K8sLoop", LOOP)]
                                  for doc in (template(kind, rego), constraint(kind, kind.lower()))])
    loaded = load_text(OBJECTS, "objects.yaml")
    started = time.monotonic()
    result = scan_resources(loaded.resources, ScanOptions(template_dirs=[templates], default_policies=False,
                                                          engine=engine, timeout=2))
    assert time.monotonic() - started < 30
    assert sorted(f.message for f in result.findings) == sorted(f"o{i} is here" for i in range(6))
    errors = {e.policy: e.message for e in result.policy_errors}
    assert sorted(errors) == ["K8sConflict", "K8sLoop", "K8sNumberMsg"]
    assert errors["K8sLoop"] == "evaluation timed out after 2s"
    assert errors["K8sNumberMsg"].startswith("evaluation failed on ConfigMap shop/o1: violation msg is not a string")
    assert "(and 2 more)" in errors["K8sConflict"]
    assert "conflict" in errors["K8sConflict"].lower()  # the engine's own message
    assert result.exit_code(Severity.HIGH) == 2
