"""Reading fields of possibly malformed objects without ever raising."""

from __future__ import annotations

from typing import Any


def mapping_at(value: Any, *keys: str) -> dict[str, Any]:
    """``value[keys[0]][keys[1]]...`` when every step is a mapping, else {} (malformed input never raises)."""
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, dict) else {}


def list_or_empty(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
