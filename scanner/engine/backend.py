"""The one small interface every Rego backend implements, and what all of them share."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from scanner.engine.templates import Template


@dataclass(frozen=True, slots=True)
class EvalFailure:
    """Evaluating one input failed; the message is the engine's."""

    message: str


Violations = list[dict[str, Any]]
Outcome = Violations | EvalFailure
Unit = tuple[tuple[str, ...], str]  # (template kinds, one input JSON they all judge)


class Backend(Protocol):
    """Compile templates once, then evaluate many inputs against each.

    ``forkable`` backends are evaluated in forked worker processes (so that a hang can be killed);
    the others are called in-process and must enforce their own time limits.
    """

    name: str
    forkable: bool

    def load(self, templates: list[Template], inventory: dict[str, Any]) -> dict[str, str]:
        """Compile every template with ``data.inventory``; returns compile errors by template kind."""
        ...

    def evaluate(self, kind: str, inputs: list[str]) -> list[Outcome]:
        """``violation`` of template ``kind`` for each input (a JSON text `{"review":..., "parameters":...}`)."""
        ...

    def close(self) -> None: ...


def evaluate_units(backend: Backend, units: list[Unit]) -> list[dict[str, Outcome]]:
    """Every kind of every unit; through the backend's own ``evaluate_units`` (several templates in one query)
    when it has one, else one ``evaluate`` call per kind over all inputs of that kind."""
    own = getattr(backend, "evaluate_units", None)
    if own is not None:
        return own(units)
    by_kind: dict[str, list[int]] = {}
    for index, (kinds, _) in enumerate(units):
        for kind in kinds:
            by_kind.setdefault(kind, []).append(index)
    results: list[dict[str, Outcome]] = [{} for _ in units]
    for kind, indexes in by_kind.items():
        outcomes = backend.evaluate(kind, [units[i][1] for i in indexes])
        for index, outcome in zip(indexes, outcomes, strict=True):
            results[index][kind] = outcome
    return results


def gatekeeper_results(raw: Any) -> Outcome:
    """Apply Gatekeeper's rules to a `violation` set: drop entries without `msg`; non-string `msg` fails."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        return EvalFailure(f"violation is not a set but {type(raw).__name__}")
    kept: Violations = []
    for item in raw:
        if not isinstance(item, dict) or "msg" not in item:
            continue
        if not isinstance(item["msg"], str):
            return EvalFailure(f"violation msg is not a string: {json.dumps(item['msg'])[:200]}")
        details = item.get("details")
        kept.append({"msg": item["msg"], "details": details if isinstance(details, dict) else {}})
    return kept


def make_backend(name: str, opa_url: str | None = None) -> Backend:
    """The backend called ``name``: `regorus` (embedded, default) or `opa` (a server; started when no URL)."""
    if name == "regorus":
        from scanner.engine.regorus_backend import RegorusBackend

        return RegorusBackend()
    if name == "opa":
        from scanner.engine.opa_backend import OpaBackend

        return OpaBackend(url=opa_url)
    raise ValueError(f"unknown engine {name!r} (choose regorus or opa)")
