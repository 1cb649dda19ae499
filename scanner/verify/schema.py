"""Schema validation of a constraint: `spec.parameters` against its template, `spec.match` against Gatekeeper's."""

from __future__ import annotations

from typing import Any

from scanner.engine.templates import Template


def _openapi_to_jsonschema(schema: Any) -> Any:
    """OpenAPI v3 (as in CRDs) to JSON Schema: `nullable`, int-or-string; Kubernetes extensions dropped."""
    if isinstance(schema, list):
        return [_openapi_to_jsonschema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key.startswith("x-kubernetes-") or key in ("nullable", "default", "example", "externalDocs"):
            continue
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {k: _openapi_to_jsonschema(v) for k, v in (value or {}).items()}
        else:
            out[key] = _openapi_to_jsonschema(value)
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


_STRINGS = {"type": "array", "items": {"type": "string"}}
_SELECTOR = {"type": "object", "properties": {
    "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
    "matchExpressions": {"type": "array", "items": {"type": "object", "required": ["key", "operator"], "properties": {
        "key": {"type": "string"}, "operator": {"type": "string"}, "values": _STRINGS}}}}}
MATCH_SCHEMA = {"type": "object", "properties": {
    "kinds": {"type": "array", "items": {"type": "object", "properties": {"apiGroups": _STRINGS, "kinds": _STRINGS}}},
    "scope": {"type": "string"}, "namespaces": _STRINGS, "excludedNamespaces": _STRINGS,
    "labelSelector": _SELECTOR, "namespaceSelector": _SELECTOR, "name": {"type": "string"},
    "source": {"type": "string"}}}


def schema_errors(template: Template, constraint_obj: dict[str, Any]) -> list[str]:
    """What is wrong with a constraint's `spec.parameters` (template schema) and `spec.match` (Gatekeeper's)."""
    import jsonschema

    spec = constraint_obj.get("spec") or {}
    if not isinstance(spec, dict):
        return ["spec: not an object"]
    checks = [("spec.match", MATCH_SCHEMA, spec.get("match"))]
    if template.parameters_schema:
        checks.append(("spec.parameters", _openapi_to_jsonschema(template.parameters_schema), spec.get("parameters")))
    problems = []
    for where, schema, value in checks:
        if value is None:
            continue
        for error in jsonschema.Draft4Validator(schema).iter_errors(value):
            path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            problems.append(f"{where}{path}: {error.message}")
    return sorted(problems)
