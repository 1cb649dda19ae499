"""What a fix does to a rendered object, before anyone decides which file it goes into."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scanner.model import FieldPath

SET = "set"  # put ``value`` at ``path`` (creating the mappings above it)
DELETE = "delete"  # remove the key at ``path``
APPEND = "append"  # add ``value`` to the list at ``path`` (creating it)
CREATE = "create"  # a new object (``value``: its kind and name), e.g. a NetworkPolicy


@dataclass(frozen=True, slots=True)
class Change:
    """One edit of one rendered object, in rendered coordinates (keys and list indices from the object root)."""

    path: FieldPath
    op: str
    value: Any = None
    rule_id: str = ""
    unsafe: bool = False  # changes what the workload may do (privileged, host namespaces, hostPath, root)

    def describe(self) -> str:
        where = format_path(self.path)
        if self.op == DELETE:
            return f"remove {where}"
        if self.op == CREATE:
            return f"add {self.value}"
        if self.op == APPEND:
            return f"add {self.value!r} to {where}"
        return f"set {where} = {_show(self.value)}"


@dataclass(frozen=True, slots=True)
class NotFixed:
    """A finding a fix leaves to a person, and why."""

    rule_id: str
    resource: str
    reason: str


def format_path(path: FieldPath) -> str:
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)
