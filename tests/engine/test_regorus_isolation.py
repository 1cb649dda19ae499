"""The embedded backend compiles in a forked child under the time limit, and that child evaluates too."""

from __future__ import annotations

import json

from scanner.engine import runner
from scanner.engine.regorus_backend import RegorusBackend
from scanner.engine.templates import Template

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
