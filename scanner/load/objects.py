"""What makes a decoded document a Kubernetes object kguard can hand on, checked once at load time.

Downstream stages (identity, matching, reports, analyses) may rely on this: ``apiVersion`` and ``kind`` are
non-empty strings, ``metadata`` is a mapping or absent, its ``name``, ``generateName`` and ``namespace`` are strings
(or null) and its ``labels`` and ``annotations`` map strings to strings (or null). A document that breaks one of
these is refused by the API server too; the loader reports it as an input error at the offending field and keeps
it out of the resources, rather than repairing it.
"""

from __future__ import annotations

import re
from typing import Any

from scanner.model import FieldPath

_TEXT_FIELDS = ("name", "generateName", "namespace")
_STRING_MAPS = ("labels", "annotations")
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_./-]{1,63}")


def _shown(key: str) -> str:
    """A key from the file, safe to put in a one-line message."""
    return key if _PLAIN_KEY.fullmatch(key) else repr(key[:40] + ("..." if len(key) > 40 else ""))


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "a mapping"}.get(type(value), type(value).__name__)


def object_problem(obj: dict[str, Any]) -> tuple[FieldPath, str] | None:
    """The first field that makes ``obj`` unusable as a Kubernetes object, and why; None when it is fine."""
    for key in ("apiVersion", "kind"):
        if not isinstance(obj.get(key), str):
            return (key,), f"{key} must be a string, not {_type_name(obj.get(key))}"
    meta = obj.get("metadata")
    if meta is None:
        return None
    if not isinstance(meta, dict):
        return ("metadata",), f"metadata must be a mapping, not {_type_name(meta)}"
    for key in _TEXT_FIELDS:
        if meta.get(key) is not None and not isinstance(meta[key], str):
            return ("metadata", key), f"metadata.{key} must be a string, not {_type_name(meta[key])}"
    for key in _STRING_MAPS:
        mapping = meta.get(key)
        if mapping is None:
            continue
        if not isinstance(mapping, dict):
            return ("metadata", key), f"metadata.{key} must be a mapping, not {_type_name(mapping)}"
        for name, value in mapping.items():
            if value is not None and not isinstance(value, str):
                return ("metadata", key, name), (
                    f"metadata.{key}.{_shown(name)} must be a string, not {_type_name(value)} (quote it)")
    return None
