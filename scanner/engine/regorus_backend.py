"""Embedded regorus (Microsoft's Rust Rego engine): one compiled engine per template."""

from __future__ import annotations

import json
from typing import Any

import regorus

from scanner.engine.backend import EvalFailure, Outcome, gatekeeper_results
from scanner.engine.templates import Template


class RegorusBackend:
    name = "regorus"
    forkable = True

    def __init__(self) -> None:
        self._engines: dict[str, Any] = {}
        self._rules: dict[str, str] = {}

    def load(self, templates: list[Template], inventory: dict[str, Any]) -> dict[str, str]:
        errors: dict[str, str] = {}
        with_data = regorus.Engine()
        with_data.add_data_json(json.dumps({"inventory": inventory}))
        without_data = regorus.Engine()
        for template in templates:
            base = with_data if template.uses_inventory else without_data
            engine = base.clone()
            try:
                engine.set_rego_v0(template.rego_version != "v1")
                for index, lib in enumerate(template.libs):
                    engine.add_policy(f"{template.kind}/lib{index}.rego", lib)
                engine.add_policy(f"{template.kind}/template.rego", template.rego or "")
                rule = f"data.{template.package}.violation"
            except (RuntimeError, ValueError) as exc:
                errors[template.kind] = f"does not compile: {_first_line(exc)}"
                continue
            self._engines[template.kind] = engine
            self._rules[template.kind] = rule
        return errors

    def evaluate(self, kind: str, inputs: list[str]) -> list[Outcome]:
        engine, rule = self._engines[kind], self._rules[kind]
        outcomes: list[Outcome] = []
        for text in inputs:
            try:
                engine.set_input_json(text)
                outcomes.append(gatekeeper_results(json.loads(engine.eval_rule_as_json(rule))))
            except (RuntimeError, ValueError) as exc:
                outcomes.append(EvalFailure(_first_line(exc)))
        return outcomes

    def close(self) -> None:
        self._engines.clear()


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
