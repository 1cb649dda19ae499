"""Scalar decoding as Kubernetes does it: go-yaml v2 resolution, then sigs.k8s.io/yaml's conversion to JSON.

kubectl and the API server read YAML with ``sigs.k8s.io/yaml`` (``YAMLToJSON``): go-yaml v2 resolves every scalar
(YAML 1.1 flavoured: ``y``/``on``/``off`` are booleans, ``0777`` is octal, ``1_000`` is an int, sexagesimal ``1:20``
is text), then the value is turned into JSON (keys become strings, integral floats print as integers, NaN and
infinities are refused). The functions here reproduce the JSON value that results, as Python's ``json`` module
would read it back, so policies see exactly what the cluster would store.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import decimal
import functools
import math
import re
import struct
from typing import Any

# What a scalar resolved to; the decoded value rides along.
STR, BOOL, NULL, INT, UINT, FLOAT, TIMESTAMP = "str", "bool", "null", "int", "uint", "float", "timestamp"

TAG_PREFIX = "tag:yaml.org,2002:"
_RESOLVABLE = {"str", "bool", "int", "float", "null", "timestamp"}
_INT64_MIN, _INT64_MAX, _UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1

_WORDS: dict[str, tuple[str, Any]] = {}
for _kind, _value, _spellings in (
    (BOOL, True, "y Y yes Yes YES true True TRUE on On ON"),
    (BOOL, False, "n N no No NO false False FALSE off Off OFF"),
    (NULL, None, "~ null Null NULL"),
    (FLOAT, math.nan, ".nan .NaN .NAN"),
    (FLOAT, math.inf, ".inf .Inf .INF +.inf +.Inf +.INF"),
    (FLOAT, -math.inf, "-.inf -.Inf -.INF"),
):
    for _word in _spellings.split():
        _WORDS[_word] = (_kind, _value)
_WORDS[""] = (NULL, None)

# first character -> which resolution is worth trying (others are always text)
_HINTS = {**dict.fromkeys("+-", "sign"), **dict.fromkeys("0123456789", "digit"),
          **dict.fromkeys("yYnNtTfFoO~", "word"), ".": "dot"}
_DECIMAL_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_DOT_FLOAT = re.compile(r"\.[0-9](_?[0-9])*([eE][-+]?[0-9](_?[0-9])*)?")
_DIGITS = {2: "01", 8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}
_TIMESTAMP = re.compile(
    r"(?P<y>[0-9]{4})-(?P<m>[0-9]{1,2})-(?P<d>[0-9]{1,2})"
    r"(?:(?P<sep>[Tt ])(?P<H>[0-9]{1,2}):(?P<M>[0-9]{1,2}):(?P<S>[0-9]{1,2})(?:[.,][0-9]+)?"
    r"(?P<tz>Z|[-+][0-9]{2}:[0-9]{2})?)?"
)


class DecodeError(ValueError):
    """A scalar or key that Kubernetes' YAML decoding refuses."""


def _go_int(text: str, base: int = 0) -> int | None:
    """Go's strconv integer syntax (sign, then 0x/0o/0b/leading-0 prefixes when ``base`` is 0), unbounded."""
    negative = text[:1] == "-"
    if text[:1] in "+-" and text:
        text = text[1:]
    if base == 0:
        base = 10
        if text[:1] == "0":
            prefix = text[1:2].lower()
            if len(text) >= 3 and prefix in ("b", "o", "x"):
                base, text = {"b": 2, "o": 8, "x": 16}[prefix], text[2:]
            else:
                base, text = 8, text[1:]
        elif not text:
            return None
    elif not text:
        return None
    digits = _DIGITS[base]
    if any(c not in digits for c in text):
        return None
    if base == 10 and len(text.lstrip("0")) > 20:  # beyond uint64; never ask int() for thousands of digits
        return None
    value = int(text, base) if text else 0
    return -value if negative else value


def _go_float(text: str) -> float | None:
    """A finite float, or None where Go's ParseFloat fails (syntax or overflow to infinity)."""
    value = float(text)
    return None if math.isinf(value) else value


def _in_int64(value: int | None) -> bool:
    return value is not None and _INT64_MIN <= value <= _INT64_MAX


SHORT = 64  # plain scalars up to this length are remembered


def resolve_plain(text: str, *, timestamps: bool = True) -> tuple[str, Any]:
    """(kind, value) of an untagged plain scalar, by go-yaml v2's rules (short ones are remembered)."""
    if len(text) <= SHORT:
        return _resolve_short(text, timestamps)
    return _resolve(text, timestamps)


@functools.lru_cache(maxsize=8192)
def _resolve_short(text: str, timestamps: bool) -> tuple[str, Any]:
    return _resolve(text, timestamps)


@functools.lru_cache(maxsize=8192)
def short_plain_value(text: str) -> Any:
    """`json_value` of an untagged plain scalar of at most `SHORT` characters, remembered; raises `DecodeError`."""
    return json_value(*resolve_plain(text))


@functools.lru_cache(maxsize=8192)
def short_plain_key(text: str) -> str:
    """`json_key` of an untagged plain scalar of at most `SHORT` characters, remembered; raises `DecodeError`."""
    return json_key(*resolve_plain(text))


def _resolve(text: str, timestamps: bool) -> tuple[str, Any]:
    hint = _HINTS.get(text[:1]) if text else "word"
    if hint is None:
        return STR, text
    if text in _WORDS:
        return _WORDS[text]
    if hint == "dot":
        if _DOT_FLOAT.fullmatch(text):
            value = _go_float(text.replace("_", ""))
            if value is not None:
                return FLOAT, value
        return STR, text
    if hint in ("digit", "sign"):
        if timestamps and is_timestamp(text):
            return TIMESTAMP, text
        plain = text.replace("_", "")
        number = _go_int(plain)
        if _in_int64(number):
            return INT, number
        if number is not None and not plain.startswith(("-", "+")) and number <= _UINT64_MAX:
            return UINT, number
        if _DECIMAL_FLOAT.fullmatch(plain):
            value = _go_float(plain)
            if value is not None:
                return FLOAT, value
        if plain.startswith("0b"):
            number = _go_int(plain[2:], 2)
            if _in_int64(number):
                return INT, number
            if number is not None and not plain[2:].startswith(("-", "+")) and number <= _UINT64_MAX:
                return UINT, number
        elif plain.startswith("-0b"):
            number = _go_int("-" + plain[3:], 2)
            if _in_int64(number):
                return INT, number
    return STR, text


def is_timestamp(text: str) -> bool:
    """Whether Go's time.Parse accepts ``text`` in one of go-yaml v2's timestamp layouts."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None or (match["sep"] and match["tz"] is None and match["sep"] != " "):
        return False
    if match["sep"] == " " and match["tz"] is not None:
        return False
    year, month, day = int(match["y"]), int(match["m"]), int(match["d"])
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year or 2000, month)[1]):
        return False
    if match["sep"] and not (int(match["H"]) < 24 and int(match["M"]) < 60 and int(match["S"]) < 60):
        return False
    tz = match["tz"]
    return not tz or tz == "Z" or (int(tz[1:3]) < 24 and int(tz[4:6]) < 60)


def resolve_tagged(tag: str, text: str) -> tuple[str, Any]:
    """(kind, value) of a scalar with an explicit tag; raises `DecodeError` where go-yaml v2 refuses it."""
    short = tag[len(TAG_PREFIX):] if tag.startswith(TAG_PREFIX) else None
    if short == "binary":
        return STR, decode_binary(text)
    if short not in _RESOLVABLE:
        return STR, text  # unknown or local tags (!foo, !!set, !): the text, as Kubernetes keeps it
    if short == "str":
        return STR, text
    kind, value = resolve_plain(text, timestamps=short == "timestamp")
    if kind == short or (kind == UINT and short == "int") or (kind == INT and short == "float"):
        return (FLOAT, float(value)) if kind == INT else (kind, value)
    raise DecodeError(f"cannot decode !!{'int' if kind == UINT else kind} {_quote(text)} as a !!{short}")


def decode_binary(text: str) -> str:
    """!!binary: base64 (line breaks ignored) decoded to a string, invalid UTF-8 bytes as U+FFFD one by one."""
    try:
        data = base64.b64decode(text.replace("\n", "").replace("\r", ""), validate=True)
    except (binascii.Error, ValueError):
        raise DecodeError("!!binary value contains invalid base64 data") from None
    return bytes_to_text(data)


def bytes_to_text(data: bytes) -> str:
    """Bytes as Go's encoding/json writes them: every byte of an invalid UTF-8 sequence becomes U+FFFD."""
    out: list[str] = []
    start = 0
    while True:
        try:
            out.append(data[start:].decode("utf-8"))
            return "".join(out)
        except UnicodeDecodeError as exc:
            out.append(data[start:start + exc.start].decode("utf-8"))
            out.append("\ufffd")
            start += exc.start + 1


def json_value(kind: str, value: Any) -> Any:
    """The value as JSON-decoding Go's encoding/json output gives it back; NaN and infinities are refused."""
    if kind != FLOAT:
        return value
    if math.isnan(value) or math.isinf(value):
        raise DecodeError(f"{_go_float_name(value)} is not a JSON number (Kubernetes cannot store it)")
    if abs(value) < 1e21 and value.is_integer():
        # Go prints the shortest digits that round-trip, padded with zeros and no fraction: an integer
        return int(decimal.Decimal(repr(value)))
    return value


def _go_float_name(value: float) -> str:
    return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")


def json_key(kind: str, value: Any) -> str:
    """A mapping key as sigs.k8s.io/yaml turns it into a JSON object key."""
    if kind in (STR, TIMESTAMP):
        return value
    if kind == BOOL:
        return "true" if value else "false"
    if kind == INT:
        return str(value)
    if kind == FLOAT:
        return _float32_g(value)
    if kind == UINT:
        raise DecodeError(f"unsupported map key {value} (an unsigned 64-bit integer)")
    raise DecodeError("unsupported map key null")


def _float32_g(value: float) -> str:
    """Go's strconv.FormatFloat(value, 'g', -1, 32), with YAML's names for the special values."""
    if math.isnan(value):
        return ".nan"
    try:
        single = struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:
        single = math.copysign(math.inf, value)
    if math.isinf(single):
        return ".inf" if single > 0 else "-.inf"
    if single == 0:
        return "-0" if math.copysign(1.0, single) < 0 else "0"
    for precision in range(1, 10):
        text = f"{single:.{precision - 1}e}"
        if struct.unpack("<f", struct.pack("<f", float(text)))[0] == single:
            break
    mantissa, exponent_text = text.split("e")
    exponent = int(exponent_text)
    digits = mantissa.replace(".", "").lstrip("-")
    sign = "-" if single < 0 else ""
    if exponent < -4 or exponent >= 6:
        head = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{head}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if exponent < 0:
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    whole, fraction = digits[: exponent + 1].ljust(exponent + 1, "0"), digits[exponent + 1:]
    return f"{sign}{whole}" + (f".{fraction}" if fraction else "")


def _quote(text: str, limit: int = 40) -> str:
    shown = text if len(text) <= limit else text[:limit] + "..."
    return "`" + shown.replace("\n", "\\n") + "`"
