"""The one small interface every Rego backend implements, and what all of them share."""

from __future__ import annotations

import json
import re
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

    Optional hooks the runner uses when present: ``set_time_limit(seconds)`` (called before ``load``; the limit per
    template compile and, in-process, per request), ``evaluate_units(units)`` (several templates in one query),
    ``prepare(units)`` (called once, in this process, with every unit before any is evaluated),
    ``take_worker(units)`` (a child process of the backend's own, already holding the compiled templates, that the
    runner uses as its first worker after sending it ``units``; see `runner.serve`) and ``in_process(units)``
    (True: evaluate these units in this process, without workers, unless --workers was given).
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


# Built-ins that reach outside the scan: the network (`http.send`, `net.lookup_ip_addr`) and OPA's runtime
# (`opa.runtime`: environment variables such as CI secrets, and the configuration). Gatekeeper disables `http.send`
# by default; regorus has none of them, so a template using one would also judge differently per engine.
# `time.now_ns` stays allowed, as in Gatekeeper: it reads the clock, nothing else.
FORBIDDEN_BUILTINS = ("http.send", "net.lookup_ip_addr", "opa.runtime")
_STRINGS_AND_COMMENTS = re.compile(r'"(?:[^"\\\n]|\\.)*"|`[^`]*`|#[^\n]*')
_FORBIDDEN_CALL = re.compile(r"(?<![\w.])(" + "|".join(
    r"\s*\.\s*".join(map(re.escape, name.split("."))) for name in FORBIDDEN_BUILTINS) + r")\s*\(")


def forbidden_builtin(template: Template) -> str | None:
    """Why ``template`` may not run (it calls a built-in of `FORBIDDEN_BUILTINS`), or None.

    Checked on the text with strings and comments left out, before either engine compiles anything, so both
    engines give the same error.
    """
    for text in (template.rego or "", *template.libs):
        if not any(name.rpartition(".")[2] in text for name in FORBIDDEN_BUILTINS):
            continue  # such a call spells the name's last part out (most texts: no need to strip strings first)
        match = _FORBIDDEN_CALL.search(_STRINGS_AND_COMMENTS.sub('""', text))
        if match:
            name = re.sub(r"\s+", "", match.group(1))
            return (f"calls the built-in {name}, which kguard does not allow: templates may not reach the network "
                    f"or the runtime environment ({', '.join(FORBIDDEN_BUILTINS)} are refused)")
    return None

