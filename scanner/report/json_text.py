"""Indented JSON text, byte for byte what ``json.dumps(data, indent=2, ensure_ascii=False, default=str)`` writes.

The standard library serialises indented JSON with nested generators in pure Python; the reports of a large scan
(tens of MB) spent most of their time there. `dumps` writes the same text with plain recursion into one list of
parts (`dump` hands it to a write function in pieces of about a megabyte instead, so that a large report is never
held as one string; an `Items` array's members are made as they are written): strings are still escaped by the
standard library's own (C) string encoder, numbers are written by `repr` as `json` writes them, and keys,
`default`, circular references and errors follow `json`'s rules. Reports (``plain``) have the dicts in their
lists (findings, SARIF results) written by orjson, in C, where it writes the same text: ten times faster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from json.encoder import encode_basestring  # ensure_ascii=False's string encoder (the C one where available)
from typing import Any

FLUSH_PARTS = 65536  # `dump`: parts gathered before a piece is written (about 1,000 findings, a megabyte)
FLUSH_CHARS = 1 << 20  # ... or characters, for members written whole (`plain`)
_INFINITY = float("inf")
_int_text = int.__repr__  # as `json` writes ints (and int subclasses such as IntEnum members)
_float_repr = float.__repr__


def dumps(data: Any, default: Callable[[Any], Any] = str, *, end: str = "", plain: bool = False) -> str:
    """``data`` as ``json.dumps(data, indent=2, ensure_ascii=False, default=default)`` writes it, then ``end``
    (a file's final newline without copying the whole text once more).

    ``plain``: the caller vouches that ``data`` holds no float, no member of an `enum.Enum` that is not also a str
    or an int, and no dict subclass that changes how it iterates (kguard's reports: their findings are typed strings
    and integers, and a policy's message is checked to be a string): orjson would write those differently from
    `json` without refusing them (NaN as null, an Enum member as its value). Every dict that is a member of a list
    (a finding, a SARIF result) is then written by orjson in C: the same text for strings, integers, booleans, None,
    lists, tuples and dicts and their subclasses (tests/report/test_json_text.py compares them), and a member orjson
    refuses (an object for ``default``, a key that is not a string, an integer beyond 64 bits, a lone surrogate, a
    deep or circular nesting) is written by the Python writer instead."""
    out: list[str] = []
    _Writer(out, default, whole=_whole_writer() if plain else None).value(data, "\n")
    out.append(end)
    return "".join(out)


def dump(data: Any, write: Callable[[str], None], default: Callable[[Any], Any] = str, *, end: str = "",
         plain: bool = False) -> None:
    """`dumps`'s text handed to ``write`` piece by piece: a piece is written whenever `FLUSH_PARTS` parts or
    `FLUSH_CHARS` characters have gathered after a member of a list, however deep the list (a SARIF log's results
    are inside its runs)."""
    writer = _Writer([], default, write, whole=_whole_writer() if plain else None)
    writer.value(data, "\n")
    writer.out.append(end)
    writer.flush()


def _whole_writer() -> Callable[[dict[Any, Any], str], str | None] | None:
    """A function that writes one dict with orjson, indented below ``pad`` (a newline and spaces), or gives None
    when `json` could write it otherwise; None when orjson is not installed."""
    try:
        import orjson
    except ImportError:  # pragma: no cover - a dependency; the Python writer gives the same text
        return None
    dumps_c = orjson.dumps
    # subclasses of str, int, dict and list are written as `json` writes them (by their content); dataclasses and
    # dates go to ``refuse`` (`json` hands them to ``default``)
    options = orjson.OPT_INDENT_2 | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME

    def refuse(value: Any) -> Any:
        raise TypeError(f"left to the Python writer: {type(value).__name__}")

    def whole(member: dict[Any, Any], pad: str) -> str | None:
        try:
            text = dumps_c(member, default=refuse, option=options)
        except TypeError:  # orjson.JSONEncodeError too
            return None
        return text.decode().replace("\n", pad)

    return whole


class Items:
    """A JSON array whose members are made as it is written: a large report's results are never all held at once.

    ``make`` gives the ``count`` members afresh on every call (a text written twice calls it twice)."""

    __slots__ = ("count", "make")

    def __init__(self, count: int, make: Callable[[], Iterable[Any]]) -> None:
        self.count = count
        self.make = make

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Any:
        return iter(self.make())


def _float_text(value: float) -> str:
    if value != value:
        return "NaN"
    if value == _INFINITY:
        return "Infinity"
    if value == -_INFINITY:
        return "-Infinity"
    return _float_repr(value)


def _scalar_text(value: Any) -> str | None:
    """The JSON text of a string, number, boolean or None (subclasses included); None for anything else."""
    if isinstance(value, str):
        return encode_basestring(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return _int_text(value)
    if isinstance(value, float):
        return _float_text(value)
    return None


def _key_text(key: Any) -> str:
    """A mapping key as `json` turns it into a string (before escaping): a string as it is, any other scalar as its
    JSON text."""
    if isinstance(key, str):
        return key
    text = _scalar_text(key)
    if text is None:
        raise TypeError(f"keys must be str, int, float, bool or None, not {key.__class__.__name__}")
    return text


class _Writer:
    """Appends the text of one document to ``out``; ``pad`` is a newline plus the current indentation. With a
    ``sink``, the parts gathered go to it every `FLUSH_PARTS` parts, checked after each member of a list; without
    one, a list's mapping members are joined into one string each (a large text is then fewer, larger parts)."""

    def __init__(self, out: list[str], default: Callable[[Any], Any], sink: Callable[[str], None] | None = None,
                 whole: Callable[[dict[Any, Any], str], str | None] | None = None) -> None:
        self.out = out
        self.default = default
        self.sink = sink
        self.whole = whole  # writes a list's dict members in one go where it can (`dumps`'s ``plain``)
        self.whole_chars = 0  # characters of such members gathered since the last flush
        self.open: set[int] = set()  # ids of the containers being written (a repeat is a circular reference)

    def flush(self) -> None:
        """Hand what is gathered to the sink."""
        if self.sink is not None and self.out:
            self.sink("".join(self.out))
            self.out.clear()
            self.whole_chars = 0

    def value(self, value: Any, pad: str) -> None:
        kind = type(value)
        if kind is str:
            self.out.append(encode_basestring(value))
        elif kind is dict:
            self.mapping(value, pad)
        elif kind is list:
            self.sequence(value, pad)
        elif (text := _scalar_text(value)) is not None:
            self.out.append(text)
        elif isinstance(value, list | tuple | Items):
            self.sequence(value, pad)
        elif isinstance(value, dict):
            self.mapping(value, pad)
        else:
            self.enter(value)
            self.value(self.default(value), pad)
            self.open.discard(id(value))

    def enter(self, container: Any) -> None:
        if id(container) in self.open:
            raise ValueError("Circular reference detected")
        self.open.add(id(container))

    def item(self, value: Any, pad: str) -> None:
        """One member's value: the common cases inline, everything else through `value`."""
        kind = type(value)
        if kind is str:
            self.out.append(encode_basestring(value))
        elif kind is int:
            self.out.append(_int_text(value))
        elif value is None:
            self.out.append("null")
        elif value is True:
            self.out.append("true")
        elif value is False:
            self.out.append("false")
        else:
            self.value(value, pad)

    def mapping(self, mapping: dict[Any, Any], pad: str) -> None:
        if not mapping:
            self.out.append("{}")
            return
        self.enter(mapping)
        inner = pad + "  "
        separator = "{" + inner
        for key, member in mapping.items():
            self.out.append(f"{separator}{encode_basestring(key if type(key) is str else _key_text(key))}: ")
            separator = "," + inner
            self.item(member, inner)
        self.out.append(pad + "}")
        self.open.discard(id(mapping))

    def sequence(self, items: list[Any] | tuple[Any, ...] | Items, pad: str) -> None:
        if not items:
            self.out.append("[]")
            return
        self.enter(items)
        inner = pad + "  "
        separator = "[" + inner
        whole = self.whole
        for member in items:
            self.out.append(separator)
            separator = "," + inner
            if whole is not None and isinstance(member, dict) and (text := whole(member, inner)) is not None:
                self.out.append(text)
                self.whole_chars += len(text)
                if self.sink is not None and self.whole_chars >= FLUSH_CHARS:
                    self.flush()
            elif self.sink is not None:  # pieces go out as parts gather, at any depth (SARIF's results are deep)
                self.item(member, inner)
                if len(self.out) >= FLUSH_PARTS or self.whole_chars >= FLUSH_CHARS:
                    self.flush()
            elif isinstance(member, dict):  # a document's bulk (findings, results): one string each, not many parts
                outer, self.out = self.out, []
                self.mapping(member, inner)
                outer.append("".join(self.out))
                self.out = outer
            else:
                self.item(member, inner)
        self.out.append(pad + "]")
        self.open.discard(id(items))
