"""json_text.dumps writes exactly what json.dumps(indent=2, ensure_ascii=False, default=str) writes; json_text.dump
hands the same text to a write function piece by piece."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import math
from pathlib import PurePosixPath
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.model import Severity
from scanner.report import json_text
from scanner.report.json_text import dump, dumps


def reference(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


class Colour(enum.StrEnum):
    RED = "red"


class Label(str):
    pass


class Counts(dict):
    pass


class Members(list):
    pass


@dataclasses.dataclass
class Point:
    x: int
    y: int


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**70), st.floats(allow_nan=True),
    st.text(), st.text(alphabet=st.characters(max_codepoint=0x20)),  # control characters
    st.sampled_from(["\x7f\x85\u2028\u202e", "\ud800 lone surrogate", '"quoted" \\ back', "日本"]),
    st.sampled_from([Severity.HIGH, Colour.RED, Label("sub"), PurePosixPath("a/b.yaml"), b"bytes", 1.5e300, -0.0]),
)
keys = st.one_of(st.text(), st.integers(), st.floats(allow_nan=True), st.booleans(), st.none(),
                 st.sampled_from([Label("k"), Colour.RED]))
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.lists(inner, max_size=3).map(tuple),
    st.dictionaries(keys, inner, max_size=4), st.dictionaries(st.text(), inner, max_size=3).map(Counts),
    st.lists(inner, max_size=3).map(Members),
), max_leaves=30)


@settings(max_examples=400, deadline=None)
@given(documents)
def test_any_document_is_written_as_json_dumps_writes_it(data: Any) -> None:
    assert dumps(data) == reference(data)


def pieces(data: Any, flush_parts: int = json_text.FLUSH_PARTS, end: str = "", *,
           flush_chars: int = json_text.FLUSH_CHARS, plain: bool = False) -> list[str]:
    out: list[str] = []
    saved = json_text.FLUSH_PARTS, json_text.FLUSH_CHARS
    json_text.FLUSH_PARTS, json_text.FLUSH_CHARS = flush_parts, flush_chars
    try:
        dump(data, out.append, end=end, plain=plain)
    finally:
        json_text.FLUSH_PARTS, json_text.FLUSH_CHARS = saved
    return out


@settings(max_examples=300, deadline=None)
@given(documents, st.integers(min_value=1, max_value=5))
def test_dump_hands_on_the_same_text_in_pieces(data: Any, flush_parts: int) -> None:
    assert "".join(pieces(data, flush_parts, end="\n")) == reference(data) + "\n"


def test_a_large_document_goes_out_in_several_pieces_in_order() -> None:
    """A report's findings: members of the outermost containers; a member being joined is never cut out of order."""
    data = {"schema": 1, "findings": [{"id": i, "path": ["spec", i], "nested": {"a": [i, {"b": i}]}}
                                      for i in range(50)], "summary": {"total": 50}}
    out = pieces(data, flush_parts=4, end="\n")
    assert len(out) > 10 and all(out)
    assert "".join(out) == reference(data) + "\n"
    assert len(pieces(data, flush_parts=10**6)) == 1  # under the threshold: one piece, as dumps writes it


def lazy(members: list[Any]) -> json_text.Items:
    return json_text.Items(len(members), lambda: iter(members))


@settings(max_examples=200, deadline=None)
@given(st.lists(documents, max_size=4), st.integers(min_value=1, max_value=5))
def test_a_lazy_array_is_written_as_the_list_of_its_members(members: list[Any], flush_parts: int) -> None:
    data = {"before": 1, "items": lazy(members), "nested": [lazy(members)]}
    expected = reference({"before": 1, "items": members, "nested": [members]})
    assert dumps(data) == expected
    assert "".join(pieces(data, flush_parts)) == expected


def test_a_deep_lazy_array_goes_out_while_its_members_are_made() -> None:
    """A SARIF log's results (runs[0].results): pieces are written before the last member is made, so the members
    are never all held at once."""
    out: list[str] = []
    written_when_made: list[int] = []

    def results() -> Any:
        for i in range(60):
            written_when_made.append(len(out))
            yield {"ruleId": f"r{i}", "locations": [{"uri": "a.yaml", "line": i}]}

    data = {"version": "2.1.0", "runs": [{"tool": {"name": "kguard"}, "results": json_text.Items(60, results)}]}
    saved, json_text.FLUSH_PARTS = json_text.FLUSH_PARTS, 40
    try:
        dump(data, out.append, end="\n")
    finally:
        json_text.FLUSH_PARTS = saved
    assert written_when_made[0] == 0 and written_when_made[-1] >= 10  # pieces went out while results were made
    assert "".join(out) == reference({**data, "runs": [{"tool": {"name": "kguard"}, "results": list(results())}]}) + "\n"


@pytest.mark.parametrize("data", [
    {}, [], (), "", 0, None, True, math.inf, -math.inf, math.nan, {"a": {}, "b": [], "c": [[], {}]},
    {1: "int key", 2.5: "float key", False: "bool key", None: "null key"},
    {"nested": [{"deep": [1, [2, [3, {"x": None}]]]}]},
])
def test_edge_documents(data: Any) -> None:
    assert dumps(data) == reference(data)


def test_a_custom_default_is_used_like_json_uses_it() -> None:
    data = {"when": {1, 2}, "list": [frozenset()]}
    assert dumps(data, default=sorted) == json.dumps(data, indent=2, ensure_ascii=False, default=sorted)


def test_errors_are_jsons_errors() -> None:
    with pytest.raises(TypeError, match="keys must be str, int, float, bool or None, not tuple"):
        dumps({(1, 2): "tuple key"})
    loop: list[Any] = []
    loop.append({"again": loop})
    with pytest.raises(ValueError, match="Circular reference detected"):
        dumps(loop)
    with pytest.raises(ValueError, match="Circular reference detected"):
        reference(loop)


def test_a_shared_container_is_no_circular_reference() -> None:
    shared = {"a": [1, 2]}
    data = {"first": shared, "second": shared, "list": [shared, shared]}
    assert dumps(data) == reference(data)


def test_end_is_written_after_the_document_and_list_items_stay_in_place() -> None:
    data = {"findings": [{"a": [1, {"b": None}]}, [], {"c": {}}, "x"], "n": 1}
    assert dumps(data, end="\n") == reference(data) + "\n"


# `plain` documents: no floats and no Enum members other than str and int ones (what kguard's reports hold); the
# rest of the scalars above, refused ones included (big integers, lone surrogates, objects for `default`).
plain_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63 - 2, max_value=2**70), st.text(),
    st.text(alphabet=st.characters(max_codepoint=0x20)),
    st.sampled_from(["\x7f\x85\u2028\u202e", "\ud800 lone surrogate", '"quoted" \\ back', "日本"]),
    st.sampled_from([Severity.HIGH, Colour.RED, Label("sub"), PurePosixPath("a/b.yaml"), b"bytes",
                     dt.datetime(2026, 12, 2, 8, 30), Point(1, 2)]),  # orjson has its own text for these two
)
plain_keys = st.one_of(st.text(), st.integers(), st.booleans(), st.none(), st.sampled_from([Label("k"), Colour.RED]))
plain_documents = st.recursive(plain_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.lists(inner, max_size=3).map(tuple),
    st.dictionaries(plain_keys, inner, max_size=4), st.dictionaries(st.text(), inner, max_size=3).map(Counts),
    st.lists(inner, max_size=3).map(Members),
    st.lists(st.dictionaries(st.text(), inner, max_size=3), max_size=3),  # dict members: what orjson writes
), max_leaves=30)


@settings(max_examples=400, deadline=None)
@given(plain_documents, st.integers(min_value=1, max_value=200))
def test_plain_documents_are_written_as_json_dumps_writes_them(data: Any, flush_chars: int) -> None:
    expected = reference(data)
    assert dumps(data, plain=True) == expected
    assert "".join(pieces(data, end="\n", flush_chars=flush_chars, plain=True)) == expected + "\n"


def test_the_dict_members_of_a_plain_document_are_written_by_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    data = {"findings": [{"id": i, "path": ["spec", i], "nested": {"a": [i, {"b": None}]}, "text": "é\n\x01"}
                         for i in range(50)], "summary": {"total": 50}}
    written: list[Any] = []
    mapping = json_text._Writer.mapping
    monkeypatch.setattr(json_text._Writer, "mapping", lambda self, m, pad: written.append(m) or mapping(self, m, pad))
    assert dumps(data, plain=True) == reference(data)
    assert written == [data, data["summary"]]  # the 50 findings went to orjson whole
    written.clear()
    out = pieces(data, end="\n", flush_chars=500, plain=True)
    assert "".join(out) == reference(data) + "\n" and len(out) > 10  # pieces by size, members never cut
    assert written == [data, data["summary"]]


def test_a_plain_documents_errors_are_jsons_errors() -> None:
    with pytest.raises(TypeError, match="keys must be str, int, float, bool or None, not tuple"):
        dumps({"findings": [{(1, 2): "tuple key"}]}, plain=True)
    loop: dict[str, Any] = {}
    loop["again"] = [loop]
    with pytest.raises(ValueError, match="Circular reference detected"):
        dumps({"findings": [loop]}, plain=True)


def test_orjson_escapes_every_code_point_as_json_does() -> None:
    """What `plain` relies on for strings: orjson's escapes are `json`'s (ensure_ascii=False) for all of Unicode."""
    import orjson  # a dependency: its absence fails here
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for start in range(0, len(chars), 4096):
        text = "".join(chars[start:start + 4096])
        assert orjson.dumps({"s": text}, option=orjson.OPT_INDENT_2).decode() == reference({"s": text})
