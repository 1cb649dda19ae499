"""The embedded backend compiles in a forked child under the time limit, and that child evaluates too; kguard's own
library needs no such trial."""

from __future__ import annotations

import dataclasses
import json
import shutil

import yaml

from scanner.engine import isolated, runner
from scanner.engine.backend import EvalFailure
from scanner.engine.catalogue import default_policy_dir, load_catalogue
from scanner.engine.regorus_backend import IN_PROCESS_MAX_EVALUATIONS, IN_PROCESS_MAX_INPUT_BYTES, RegorusBackend
from scanner.engine.templates import Template, from_policy, parse_template
from tests.engine.conftest import template

LABELLED = Template(kind="K8sLabelled", rego_version="v1", rego="""package k8slabelled

violation contains {"msg": "no team label"} if not input.review.object.metadata.labels.team
""")
NAMED = Template(kind="K8sNamed", rego_version="v1", rego="""package k8snamed

violation contains {"msg": msg} if {
  startswith(input.review.object.metadata.name, "tmp-")
  msg := sprintf("%v is temporary", [input.review.object.metadata.name])
}
""")
CRASHING = Template(kind="K8sCrashing", rego_version="v1", rego="package k8scrashing\n\nx := " + "-" * 10_000 + "1\n")
HANGING = Template(kind="K8sHanging", rego_version="v1", rego="package k8shanging\n\nx := " + "[" * 30 + "1" +
                   "]" * 30 + "\n")


def _unit(name: str, kinds: tuple[str, ...]) -> tuple[tuple[str, ...], str]:
    review = {"object": {"metadata": {"name": name, "labels": {}}}}
    return kinds, json.dumps({"parameters": {}, "review": review})


def _messages(result: runner.RunResult) -> dict[int, dict[str, list[str]]]:
    return {index: {kind: [v["msg"] for v in outcome] for kind, outcome in by_kind.items()}
            for index, by_kind in result.outcomes.items()}


def test_templates_compile_and_evaluate_in_the_child_only():
    backend = RegorusBackend()
    try:
        assert runner.load(backend, [LABELLED, NAMED], {}, timeout=10) == {}
        result = runner.run(backend, [_unit("tmp-a", ("K8sLabelled", "K8sNamed")), _unit("b", ("K8sNamed",))],
                            timeout=10, workers=1)

        assert _messages(result) == {0: {"K8sLabelled": ["no team label"], "K8sNamed": ["tmp-a is temporary"]}}
        assert result.errors == {}
        assert backend._shared == []  # this process never compiled: the compiling child did the work
    finally:
        backend.close()


def test_a_crash_and_a_hang_while_compiling_cost_only_their_templates():
    backend = RegorusBackend()
    try:
        errors = runner.load(backend, [CRASHING, LABELLED, HANGING, NAMED], {}, timeout=1)

        assert errors == {"K8sCrashing": "does not compile: the engine crashed (SIGSEGV)",
                          "K8sHanging": "does not compile: timed out after 1s"}
        result = runner.run(backend, [_unit("tmp-a", ("K8sLabelled", "K8sNamed"))], timeout=10, workers=1)
        assert _messages(result) == {0: {"K8sLabelled": ["no team label"], "K8sNamed": ["tmp-a is temporary"]}}
    finally:
        backend.close()


def test_evaluating_in_this_process_compiles_on_first_use():
    backend = RegorusBackend()
    try:
        assert backend.load([NAMED], {}) == {}
        outcomes = backend.evaluate("K8sNamed", [_unit("tmp-x", ())[1]])

        assert outcomes == [[{"msg": "tmp-x is temporary", "details": {}}]]
    finally:
        backend.close()


# -- kguard's own library (`Template.trusted`): no trial child, compiled on first use, small work in this process --

def _trusted(template: Template) -> Template:
    return dataclasses.replace(template, trusted=True)


def test_the_bundled_library_is_trusted_and_nothing_else_is(tmp_path):
    bundled = load_catalogue(default_policy_dir())
    assert bundled and all(p.bundled for p in bundled)
    assert all(from_policy(p)[0].trusted for p in bundled)
    copy = tmp_path / "policies"
    shutil.copytree(default_policy_dir(), copy)  # the same files elsewhere: a --policy-dir of someone's
    assert not any(p.bundled or from_policy(p)[0].trusted for p in load_catalogue(copy))
    assert not parse_template(yaml.safe_load(template("K8sX", "package x\n"))).trusted  # --templates


def test_trusted_templates_are_compiled_where_they_are_first_evaluated_and_only_those(monkeypatch):
    forks = []
    monkeypatch.setattr(isolated, "run_each", lambda *args, **kwargs: forks.append(args) or iter(()))
    backend = RegorusBackend()
    try:
        assert runner.load(backend, [_trusted(LABELLED), _trusted(NAMED)], {}, timeout=10) == {}
        assert forks == [] and backend._shared == []  # no trial child, nothing compiled yet
        result = runner.run(backend, [_unit("tmp-a", ("K8sNamed",))], timeout=10)

        assert _messages(result) == {0: {"K8sNamed": ["tmp-a is temporary"]}}
        assert set(backend._home) == {"K8sNamed"}  # evaluated here (little work), K8sLabelled never compiled
    finally:
        backend.close()


def test_trusted_and_untrusted_templates_judge_alike():
    units = [_unit("tmp-a", ("K8sLabelled", "K8sNamed")), _unit("b", ("K8sNamed",)), _unit("tmp-c", ("K8sLabelled",))]
    judged = []
    for templates in ([LABELLED, NAMED], [_trusted(LABELLED), _trusted(NAMED)]):
        backend = RegorusBackend()
        try:
            assert runner.load(backend, templates, {}, timeout=10) == {}
            judged.append(_messages(runner.run(backend, units, timeout=10)))
        finally:
            backend.close()
    assert judged[0] == judged[1] == {0: {"K8sLabelled": ["no team label"], "K8sNamed": ["tmp-a is temporary"]},
                                      2: {"K8sLabelled": ["no team label"]}}


def test_only_little_work_of_the_trusted_library_is_evaluated_in_this_process():
    backend = RegorusBackend()
    try:
        backend.load([_trusted(LABELLED)], {})
        small = [_unit("a", ("K8sLabelled",))]
        assert backend.in_process(small)
        assert not backend.in_process(small * (IN_PROCESS_MAX_EVALUATIONS + 1))
        big_input = (("K8sLabelled",), json.dumps({"review": {"object": {"x": "y" * IN_PROCESS_MAX_INPUT_BYTES}}}))
        assert not backend.in_process([big_input])
        backend.load([_trusted(LABELLED), NAMED], {})  # anything else in the set: workers and their time limit
        assert not backend.in_process(small)
    finally:
        backend.close()


def test_given_workers_are_used_even_for_little_work(monkeypatch):
    forked = []
    real = runner._run_forked
    monkeypatch.setattr(runner, "_run_forked", lambda *args: forked.append(args[3]) or real(*args))
    backend = RegorusBackend()
    try:
        backend.load([_trusted(NAMED)], {})
        result = runner.run(backend, [_unit("tmp-a", ("K8sNamed",))], timeout=10, workers=1)
        assert forked == [1] and _messages(result) == {0: {"K8sNamed": ["tmp-a is temporary"]}}
    finally:
        backend.close()


def test_a_trusted_template_that_does_not_compile_fails_its_evaluations_by_name():
    broken = _trusted(Template(kind="K8sBroken", rego_version="v1", rego="package k8sbroken\n\nviolation contains {"))
    backend = RegorusBackend()
    try:
        assert backend.load([broken, _trusted(NAMED)], {}) == {}
        result = runner.run(backend, [_unit("tmp-a", ("K8sBroken", "K8sNamed"))], timeout=10)
        failed = result.outcomes[0].pop("K8sBroken")
        assert isinstance(failed, EvalFailure) and failed.message.startswith("does not compile: "), failed
        assert _messages(result) == {0: {"K8sNamed": ["tmp-a is temporary"]}}
    finally:
        backend.close()
