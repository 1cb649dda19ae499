"""A minimal evaluator of Gatekeeper `kind: Suite` files over regorus, for the policy library's own tests.

It follows `gator verify` semantics for what our suites use: template + constraint files, case objects,
`inventory` files (Gatekeeper sync layout), constraint match on kinds / namespaces / excludedNamespaces, and
assertions `violations: yes|no|N` with an optional `message` regex. `kguard verify` is the full implementation.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import regorus
import yaml

REPO = Path(__file__).resolve().parents[2]
POLICY_DIR = REPO / "policies"


@dataclass(frozen=True)
class CaseResult:
    suite: Path
    test: str
    case: str
    ok: bool
    detail: str
    messages: tuple[str, ...]


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_objects(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def group_version_kind(obj: dict[str, Any]) -> tuple[str, str, str]:
    api_version = obj.get("apiVersion", "")
    group, _, version = api_version.rpartition("/")
    return group, version, obj.get("kind", "")


def inventory_of(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """`data.inventory` in Gatekeeper sync layout."""
    inventory: dict[str, Any] = {"cluster": {}, "namespace": {}}
    for obj in objects:
        meta = obj.get("metadata") or {}
        gv, kind, name = obj.get("apiVersion", ""), obj.get("kind", ""), meta.get("name", "")
        namespace = meta.get("namespace")
        bucket = inventory["namespace"].setdefault(namespace, {}) if namespace else inventory["cluster"]
        bucket.setdefault(gv, {}).setdefault(kind, {})[name] = obj
    return inventory


def _glob(pattern: str, value: str) -> bool:
    if pattern.startswith("*") and pattern.endswith("*") and len(pattern) > 1:
        return pattern[1:-1] in value
    if pattern.startswith("*"):
        return value.endswith(pattern[1:])
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    return value == pattern


def matches(match: dict[str, Any], obj: dict[str, Any]) -> bool:
    """Constraint match on kinds, namespaces and excludedNamespaces (what our constraints use)."""
    group, _, kind = group_version_kind(obj)
    kinds = match.get("kinds") or []
    if kinds and not any(
        (not k.get("kinds") or "*" in k["kinds"] or kind in k["kinds"])
        and (not k.get("apiGroups") or "*" in k["apiGroups"] or group in k["apiGroups"])
        for k in kinds
    ):
        return False
    meta = obj.get("metadata") or {}
    namespace = meta.get("name") if kind == "Namespace" else meta.get("namespace")
    if namespace is None:
        return True
    if match.get("namespaces") and not any(_glob(p, namespace) for p in match["namespaces"]):
        return False
    return not any(_glob(p, namespace) for p in match.get("excludedNamespaces") or [])


def review_of(obj: dict[str, Any]) -> dict[str, Any]:
    group, version, kind = group_version_kind(obj)
    meta = obj.get("metadata") or {}
    review: dict[str, Any] = {
        "kind": {"group": group, "version": version, "kind": kind},
        "name": meta.get("name", ""),
        "object": obj,
        "operation": "CREATE",
        "uid": "",
        "userInfo": {},
    }
    if meta.get("namespace"):
        review["namespace"] = meta["namespace"]
    return review


def template_code(template: dict[str, Any]) -> tuple[str, list[str]]:
    """The Rego module and libs of a ConstraintTemplate's `code` Rego entry."""
    target = template["spec"]["targets"][0]
    for code in target.get("code") or []:
        if code.get("engine") == "Rego":
            return code["source"]["rego"], list(code["source"].get("libs") or [])
    return target["rego"], list(target.get("libs") or [])


def evaluate(template: dict[str, Any], constraint: dict[str, Any], obj: dict[str, Any],
             inventory: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Violations of one object under one constraint (empty when the constraint does not match it)."""
    if not matches(constraint.get("spec", {}).get("match") or {}, obj):
        return []
    rego, libs = template_code(template)
    engine = regorus.Engine()
    for index, lib in enumerate(libs):
        engine.add_policy(f"lib{index}.rego", lib)
    engine.add_policy("template.rego", rego)
    engine.add_data({"inventory": inventory_of(inventory)})
    parameters = constraint.get("spec", {}).get("parameters") or {}
    engine.set_input_json(json.dumps({"review": review_of(obj), "parameters": parameters}))
    package = re.search(r"^package\s+(\S+)", rego, re.MULTILINE)
    assert package, "template Rego has no package"
    result = json.loads(engine.eval_rule_as_json(f"data.{package.group(1)}.violation"))
    return sorted(result or [], key=lambda v: json.dumps(v, sort_keys=True))


def _expected_count(value: Any) -> int | str:
    if value is None or value is True or value == "yes":
        return "yes"
    if value is False or value == "no":
        return 0
    return int(value)


def check_assertion(assertion: dict[str, Any], violations: list[dict[str, Any]]) -> str | None:
    """None when the assertion holds, else why not."""
    pattern = assertion.get("message")
    messages = [v.get("msg", "") for v in violations]
    hits = [m for m in messages if pattern is None or re.search(pattern, m)]
    expected = _expected_count(assertion.get("violations"))
    if expected == "yes":
        return None if hits else f"expected violations matching {pattern!r}, got {messages}"
    if len(hits) != expected:
        return f"expected {expected} violations matching {pattern!r}, got {len(hits)}: {messages}"
    return None


def run_suite(suite_path: Path) -> list[CaseResult]:
    suite = load_yaml(suite_path)
    base = suite_path.parent
    results: list[CaseResult] = []
    for test in suite.get("tests") or []:
        template = load_yaml(base / test["template"])
        constraint = load_yaml(base / test["constraint"])
        for case in test.get("cases") or []:
            if case.get("skip"):
                continue
            (obj,) = load_objects(base / case["object"])
            inventory = [o for f in case.get("inventory") or [] for o in load_objects(base / f)]
            violations = evaluate(template, constraint, obj, inventory)
            problems = [p for a in case.get("assertions") or [] if (p := check_assertion(a, violations))]
            results.append(CaseResult(suite_path, test["name"], case["name"], not problems, "; ".join(problems),
                                      tuple(v.get("msg", "") for v in violations)))
    return results


def suite_paths() -> list[Path]:
    return sorted(POLICY_DIR.glob("*/*/suite.yaml"))


def evaluate_with_opa(opa: str, template: dict[str, Any], constraint: dict[str, Any], obj: dict[str, Any],
                      inventory: list[dict[str, Any]], workdir: Path) -> list[dict[str, Any]]:
    """Like `evaluate`, through the `opa eval` binary (strict builtin errors) instead of regorus."""
    import subprocess

    if not matches(constraint.get("spec", {}).get("match") or {}, obj):
        return []
    rego, libs = template_code(template)
    package = re.search(r"^package\s+(\S+)", rego, re.MULTILINE)
    assert package, "template Rego has no package"
    args = [opa, "eval", "--format", "json", "--strict-builtin-errors"]
    for index, text in enumerate([rego, *libs]):
        path = workdir / f"module{index}.rego"
        path.write_text(text)
        args += ["-d", str(path)]
    (workdir / "data.json").write_text(json.dumps({"inventory": inventory_of(inventory)}))
    parameters = constraint.get("spec", {}).get("parameters") or {}
    (workdir / "input.json").write_text(json.dumps({"review": review_of(obj), "parameters": parameters}))
    args += ["-d", str(workdir / "data.json"), "-i", str(workdir / "input.json"), f"data.{package.group(1)}.violation"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode:
        raise RuntimeError(f"opa eval failed: {proc.stdout}{proc.stderr}")
    result = json.loads(proc.stdout).get("result") or []
    value = result[0]["expressions"][0]["value"] if result else []
    return sorted(value, key=lambda v: json.dumps(v, sort_keys=True))
