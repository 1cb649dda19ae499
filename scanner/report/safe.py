"""Showing untrusted text safely: object names, messages, file names and annotations come from whoever wrote the
manifests (in CI: the pull-request author), so they must not be able to drive the terminal or forge log lines.

- `safe_text` renders every control character visibly (`\\x1b`, `\\n`, `\\u202e`): C0, DEL, C1, the Unicode line and
  paragraph separators and the bidirectional overrides, isolates and marks. No line break, escape sequence or
  reordering survives, so a name cannot clear the screen, retitle the terminal or start a fake `kguard: error:`
  line.
- `guard_lines` marks (with a leading backslash) any output line that a CI runner would read as a workflow command
  (`::error ...`, `##[error]...`) or that looks like one of kguard's own stderr lines, which text wrapping can
  otherwise produce from a harmless-looking long message.
- `escape_json` makes serialised JSON/SARIF ASCII-safe for the characters `json.dumps(ensure_ascii=False)` leaves
  raw (DEL, C1, separators, bidi controls); the data itself is unchanged.

All three are pure string functions: the same input gives byte-identical output.
"""

from __future__ import annotations

import re

# C0 (incl. TAB, LF, CR), DEL, C1, LINE/PARAGRAPH SEPARATOR, bidi embeddings/overrides/isolates and marks.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_BREAKS = re.compile("[ \t]*(?:\r\n|[\n\r\u2028\u2029])[ \t]*")
# Characters json.dumps(ensure_ascii=False) writes raw although a terminal or viewer would act on them.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
# A workflow command (`::name ...::`) or a legacy one (`##[name]`) after leading whitespace; an own-looking line.
_COMMAND_LINE = re.compile(r"^(\s*)(::|##\[)|^(kguard:)")
_SGR = re.compile(r"\x1b\[[0-9;]*m")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def safe_text(text: object, *, prose: bool = False) -> str:
    """``text`` with every control character shown as an escape (``\\x1b``, ``\\n``, ``\\u202e``).

    With ``prose`` (rule descriptions and remediations from policy metadata, often YAML block scalars), line breaks
    become single spaces instead, so wrapped prose stays readable; every other control character is still escaped.
    """
    value = str(text)
    if prose:
        value = _BREAKS.sub(" ", value.strip())
    return _UNSAFE.sub(_escape, value)


def guard_lines(text: str) -> str:
    """Mark lines that a CI runner would execute as workflow commands, or that imitate kguard's stderr lines.

    Such a line gets a backslash before its first non-blank character (``  \\::error ...``); ANSI colour codes are
    ignored when deciding. Every other line, and the line endings, are left exactly as they were.
    """
    if "::" not in text and "##[" not in text and "kguard:" not in text:
        return text
    lines = text.split("\n")
    for index, line in enumerate(lines):
        plain = _SGR.sub("", line) if "\x1b" in line else line
        match = _COMMAND_LINE.match(plain)
        if match:
            lines[index] = _mark(line, len(match.group(1) or ""))
    return "\n".join(lines)


def _mark(line: str, indent: int) -> str:
    """``line`` with a backslash before its ``indent``-th visible character (ANSI codes do not count)."""
    seen = 0
    position = 0
    while position < len(line):
        sgr = _SGR.match(line, position)
        if sgr:
            position = sgr.end()
            continue
        if seen == indent:
            break
        seen += 1
        position += 1
    return f"{line[:position]}\\{line[position:]}"


def escape_json(text: str) -> str:
    """Serialised JSON with DEL, C1, the line separators and bidi controls written as ``\\uXXXX`` escapes.

    Only valid on JSON text: these characters can occur nowhere but inside strings, where the escape means the same
    character, so a parser reads back identical data.
    """
    if text.isascii() and "\x7f" not in text:  # it escapes DEL and characters above ASCII: most reports have none
        return text
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
