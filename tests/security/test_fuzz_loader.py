"""Property tests of the loader on hostile input: random YAML text and type-confused Kubernetes objects.

Whatever comes before it, the canary (a privileged Pod) in the same file, and in the next file of the run, is
loaded with its exact field positions; loading never raises, every problem is a one-line error naming the file and
staying within the file's own documents, and each example finishes in bounded time. Fixed budget, derandomized:
CI sees the same examples every run.
"""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.load.files import load_paths, load_text
from scanner.load.yaml_source import INTERNAL_PREFIX
from scanner.model import InputError

CANARY = """\
apiVersion: v1
kind: Pod
metadata:
  name: canary
spec:
  containers:
  - name: c
    securityContext:
      privileged: true
"""
PRIVILEGED = ("spec", "containers", 0, "securityContext", "privileged")
FUZZ = settings(max_examples=200, deadline=5000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# Fragments that steer YAML and Kubernetes decoding into their corners.
SCALARS = st.sampled_from([
    "1", "-1", "0777", "0x1F", "1_000", "1e400", ".nan", ".inf", "-.inf", "~", "null", "y", "off", "2001-01-01",
    "1:20", "9" * 60, "'quoted'", '"dq\\x41"', "!!int ''", "!!binary abc", "!!binary aGk=", "!!set x", "!foo x", "! 1",
    "!!float 1", "*a", "&a 1", "&a [1, *a]", "{{ .Values.x }}", "{{HF}}", "[", "]", "{", "}", "|", ">", "-", "? x",
    "<<", "'x'", '"x"', "\t", "é", "\u2028", "\x85", "\ufeff", "#", "%", "@", "`", "", "[a]", "{a: 1}", "*undefined",
])
KEYS = st.sampled_from(["apiVersion", "kind", "metadata", "name", "labels", "annotations", "namespace", "spec",
                        "items", "on", "y", "1", "1.5", "~", "<<", "? [a]", "[a]", "{a: 1}", "'k'", "x"])


@st.composite
def yaml_lines(draw) -> str:
    """Random lines of YAML-ish text (mappings, lists, flow, anchors, tags, separators, tabs, directives)."""
    lines = []
    for _ in range(draw(st.integers(1, 12))):
        indent = draw(st.sampled_from(["", "", "  ", "    ", "\t", " "]))
        shape = draw(st.sampled_from(["map", "map", "list", "flow", "marker", "raw"]))
        key, value = draw(KEYS), draw(SCALARS)
        if shape == "map":
            lines.append(f"{indent}{key}: {value}")
        elif shape == "list":
            lines.append(f"{indent}- {value}")
        elif shape == "flow":
            lines.append(f"{indent}{{{key}: [{value}, {draw(SCALARS)}]}}")
        elif shape == "marker":
            lines.append(draw(st.sampled_from(["---", "...", "--- x", "%YAML 1.1", "%TAG ! tag:x,2000:", "---#"])))
        else:
            lines.append(indent + draw(st.text(max_size=20)))
    return "\n".join(lines) + "\n"


PRINTABLE = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Co", "Cn")), max_size=8)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | PRINTABLE,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(PRINTABLE, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def confused_objects(draw) -> str:
    """A Kubernetes-shaped object whose identity fields have random types, written as JSON (valid YAML)."""
    import json

    def field(name: str, good: object, present: int = 1) -> dict:
        """``name`` with the ``good`` value or a random one, present in ``present`` of two draws (0..2)."""
        return {name: draw(st.one_of(st.just(good), JSONISH))} if draw(st.integers(0, 1)) < present else {}

    meta = {**field("name", "x"), **field("namespace", "ns"), **field("labels", {"a": "b"}),
            **field("annotations", {"a": "b"}), **field("generateName", "g-")}
    kind = draw(st.sampled_from(["Pod", "List", "ConfigMapList"]))
    obj = {**field("apiVersion", "v1", present=2), **field("kind", kind, present=2),
           "metadata": draw(st.one_of(st.just(meta), JSONISH)), **field("items", [meta]), **field("spec", {})}
    return json.dumps(obj, allow_nan=True, ensure_ascii=False) + "\n"


def assert_canary(result, path: str, line: int) -> None:
    canaries = [r for r in result.resources if r.name == "canary" and r.path == path]
    assert len(canaries) == 1, [str(e) for e in result.errors]
    field_path, position = canaries[0].locate(PRIVILEGED)
    assert (field_path, position.line, position.column) == (path, line, 7)


def assert_wellformed_errors(errors: list[InputError], path: str, lines: int) -> None:
    for error in errors:
        assert error.path == path and "\n" not in str(error) and len(str(error)) < 600
        assert not error.message.startswith(INTERNAL_PREFIX), error  # a defect caught, not a YAML problem
        assert error.line is None or 1 <= error.line <= lines


def check(prefix: str) -> None:
    started = time.monotonic()
    text = prefix + "---\n" + CANARY
    lines = text.count("\n") + text.count("\r") - text.count("\r\n") + sum(map(text.count, "\x85\u2028\u2029"))
    result = load_text(text, "fuzz.yaml")
    assert_canary(result, "fuzz.yaml", lines)  # the text ends with the privileged line
    assert_wellformed_errors(result.errors, "fuzz.yaml", lines)
    for resource in result.resources:  # what reaches the engine is well typed
        assert isinstance(resource.obj["apiVersion"], str) and isinstance(resource.obj["kind"], str)
        assert isinstance(resource.obj.get("metadata", {}), dict | None)
    assert time.monotonic() - started < 5


@FUZZ
@given(yaml_lines())
def test_random_yaml_never_raises_nor_hides_the_canary(prefix):
    check(prefix)


@FUZZ
@given(st.lists(confused_objects(), min_size=1, max_size=3))
def test_type_confused_objects_never_raise_nor_hide_the_canary(objects):
    check("---\n".join(objects))


@FUZZ
@given(yaml_lines())
def test_a_hostile_file_never_hides_the_canary_in_the_next_file(tmp_path_factory, prefix):
    directory = tmp_path_factory.mktemp("run")
    (directory / "a.yaml").write_text(prefix, encoding="utf-8", newline="")
    (directory / "b.yaml").write_text(CANARY)
    result = load_paths([str(directory / "a.yaml"), str(directory / "b.yaml")])
    canary = [r for r in result.resources if r.name == "canary" and r.path.endswith("b.yaml")]
    assert len(canary) == 1 and canary[0].locate(PRIVILEGED)[1].line == 9
    assert all(e.path.endswith("a.yaml") and not e.message.startswith(INTERNAL_PREFIX) for e in result.errors)
