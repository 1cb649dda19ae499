"""What a live audit could not read, aggregated into `ScanResult.coverage` entries.

An entry is a dict: ``kind``, ``group``, ``version``, ``namespace`` (None = cluster-wide / every namespace),
``reason`` (``forbidden``, ``not-found``, ``error``), ``status`` (HTTP code, 0 = no answer) and ``message``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Gap:
    kind: str
    group: str
    version: str
    namespace: str | None
    status: int
    message: str

    @property
    def reason(self) -> str:
        return reason_for(self.status)


def reason_for(status: int) -> str:
    if status in (401, 403):
        return "forbidden"
    if status == 404:
        return "not-found"
    return "error"


def aggregate(gaps: Iterable[Gap], namespaces: Iterable[str] = ()) -> list[dict[str, Any]]:
    """One entry per unreadable (kind, namespace); a kind unreadable in every known namespace becomes one entry.

    Sorted, so that reports are deterministic.
    """
    known = set(namespaces)
    by_kind: dict[tuple[str, str, str, int], list[Gap]] = {}
    for gap in gaps:
        by_kind.setdefault((gap.group, gap.kind, gap.version, gap.status), []).append(gap)
    entries: list[dict[str, Any]] = []
    for (group, kind, version, status), items in by_kind.items():
        spaces = {g.namespace for g in items}
        if None in spaces or (known and known <= spaces and len(known) > 1):
            message = items[0].message if None in spaces else f"{items[0].message} (in all {len(known)} namespaces)"
            entries.append(_entry(kind, group, version, None, status, message))
            continue
        for gap in items:
            entries.append(_entry(kind, group, version, gap.namespace, status, gap.message))
    return sorted(entries, key=lambda e: (e["group"], e["kind"], e["namespace"] or "", e["status"]))


def _entry(kind: str, group: str, version: str, namespace: str | None, status: int, message: str) -> dict[str, Any]:
    return {"kind": kind, "group": group, "version": version, "namespace": namespace,
            "reason": reason_for(status), "status": status, "message": message}
