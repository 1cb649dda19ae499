"""safe_text, guard_lines and escape_json: the helpers every output shows untrusted text through."""

from __future__ import annotations

import json

import pytest

from scanner.report.safe import escape_json, guard_lines, safe_text


@pytest.mark.parametrize(("raw", "shown"), [
    ("plain name-1.yaml", "plain name-1.yaml"),
    ("a\nb\rc\td", "a\\nb\\rc\\td"),
    ("\x1b]0;title\x07\x1b[2J", "\\x1b]0;title\\x07\\x1b[2J"),
    ("\x00\x01\x1f\x7f", "\\x00\\x01\\x1f\\x7f"),
    ("\x80\x85\x9b\x9f", "\\x80\\x85\\x9b\\x9f"),
    ("\u2028\u2029", "\\u2028\\u2029"),
    ("\u202a\u202b\u202c\u202d\u202e", "\\u202a\\u202b\\u202c\\u202d\\u202e"),
    ("\u2066\u2067\u2068\u2069\u200e\u200f\u061c", "\\u2066\\u2067\\u2068\\u2069\\u200e\\u200f\\u061c"),
    ("üñí© 日本 \u00a0", "üñí© 日本 \u00a0"),  # printable non-ASCII stays as it is
    ("[bold]x[/]", "[bold]x[/]"),
])
def test_safe_text_escapes_every_control_character_visibly(raw: str, shown: str) -> None:
    assert safe_text(raw) == shown


def test_safe_text_prose_folds_line_breaks_and_escapes_the_rest() -> None:
    assert safe_text("Set runAsNonRoot\n  on every container.\n", prose=True) == "Set runAsNonRoot on every container."
    assert safe_text("a\r\nb\u2028c\x1b[2J", prose=True) == "a b c\\x1b[2J"


def test_safe_text_is_total_over_code_points() -> None:
    text = "".join(map(chr, range(0x3000)))
    shown = safe_text(text)
    assert shown == safe_text(text)  # deterministic
    assert not any(0x00 <= ord(c) <= 0x1F or 0x7F <= ord(c) <= 0x9F or c in "\u2028\u2029\u202e\u2067" for c in shown)


@pytest.mark.parametrize(("text", "guarded"), [
    ("::error file=a::x\n", "\\::error file=a::x\n"),
    ("  ::warning::x\n", "  \\::warning::x\n"),
    ("\t##[error]x\n", "\t\\##[error]x\n"),
    ("kguard: error: all clear\n", "\\kguard: error: all clear\n"),
    ("\x1b[1m  ::error::x\x1b[0m\n", "\x1b[1m  \\::error::x\x1b[0m\n"),  # colour codes before the command
    ("a ::error::x\n  kguard: note\nfe80::1\n", "a ::error::x\n  kguard: note\nfe80::1\n"),  # not at a line start
])
def test_guard_lines_marks_only_lines_a_runner_would_execute(text: str, guarded: str) -> None:
    assert guard_lines(text) == guarded


def test_escape_json_round_trips_the_data() -> None:
    data = {"name": "a\x7f\x85\x9b\u2028\u2029\u202e\u2066b", "ü": "日本"}
    text = escape_json(json.dumps(data, ensure_ascii=False))
    assert json.loads(text) == data
    assert "\\u0085" in text and "\\u202e" in text and "日本" in text
    assert not any(0x7F <= ord(c) <= 0x9F or c in "\u2028\u2029\u202e\u2066" for c in text)


def test_escape_json_escapes_a_del_in_otherwise_ascii_text_and_leaves_plain_ascii_alone() -> None:
    assert escape_json('{"a": "x\x7fy"}') == '{"a": "x\\u007fy"}'
    assert escape_json('{"a": "plain \\u0085 text"}') == '{"a": "plain \\u0085 text"}'
