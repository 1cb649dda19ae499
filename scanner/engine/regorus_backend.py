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
        with_data = _engine()
        with_data.add_data_json(json.dumps({"inventory": inventory}))
        without_data = _engine()
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


def _engine() -> Any:
    """An engine without regorus' default source limits (1,024 columns per line), which real templates exceed."""
    engine = regorus.Engine()
    engine.set_policy_length_config(max_col=1_000_000, max_file_bytes=64 * 1024 * 1024, max_lines=1_000_000)
    return engine


def _first_line(exc: Exception) -> str:
    """regorus errors are multi-line (location, source excerpt, `error: ...`, a backtrace): keep what matters."""
    lines = [line.strip() for line in str(exc).split("Stack backtrace:")[0].splitlines() if line.strip()]
    where = next((line[3:].strip() for line in lines if line.startswith("-->")), "")
    error = next((line for line in lines if line.startswith("error:")), lines[0] if lines else type(exc).__name__)
    return f"{error} (at {where})" if where else error
