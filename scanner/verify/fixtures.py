"""Reading the files a suite names: templates, constraints (schema-checked), case objects and inventories."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from scanner.engine.templates import Constraint, Template, parse_constraint, parse_template
from scanner.load.files import load_file
from scanner.model import Resource
from scanner.verify.results import CaseError
from scanner.verify.schema import schema_errors

CONSTRAINT_GROUP = "constraints.gatekeeper.sh"
_REGO_V1_IMPORT = re.compile(r"^\s*import\s+rego\.v1\b", re.MULTILINE)


def read_objects(base: Path, relative: Any, what: str) -> list[Resource]:
    """Every object of the file ``relative`` (to ``base``); ``what`` names it in errors."""
    if not isinstance(relative, str) or not relative:
        raise CaseError(f"must define {what}")
    file = base / relative
    if not file.is_file():
        raise CaseError(f"{what} {relative}: no such file")
    loaded = load_file(file)
    if loaded.errors:
        raise CaseError(f"reading {what}: {loaded.errors[0]}")
    if loaded.skipped:
        raise CaseError(f"reading {what}: {loaded.skipped[0].path}:{loaded.skipped[0].line}: "
                        f"{loaded.skipped[0].reason}")
    if not loaded.resources:
        raise CaseError(f"{what} {relative} defines no YAML objects")
    return loaded.resources


def read_one_object(base: Path, relative: Any, what: str) -> Resource:
    """The single object of the file ``relative``."""
    objects = read_objects(base, relative, what)
    if len(objects) != 1:
        raise CaseError(f"{what} {relative} defines {len(objects)} objects, want exactly 1")
    return objects[0]


def read_template(base: Path, relative: Any) -> Template:
    res = read_one_object(base, relative, "template")
    if res.kind != "ConstraintTemplate":
        raise CaseError(f"template {relative} is a {res.kind}, not a ConstraintTemplate")
    try:
        template = parse_template(res.obj, source=res.path)
    except ValueError as exc:
        raise CaseError(f"adding template: {exc}") from None
    if template.rego and template.rego_version == "v1" and any(
            _REGO_V1_IMPORT.search(m) for m in (template.rego, *template.libs)):
        raise CaseError("adding template: bad import: Gatekeeper rejects `import rego.v1` (write v1 syntax "
                        "without it)")
    return template


def read_constraint(base: Path, relative: Any, template: Template) -> tuple[Constraint | None, list[str]]:
    """The constraint, or (None, schema problems) when it fails schema validation."""
    res = read_one_object(base, relative, "constraint")
    if res.api_version.rpartition("/")[0] != CONSTRAINT_GROUP:
        raise CaseError(f"constraint {relative} is not in group {CONSTRAINT_GROUP} (apiVersion {res.api_version})")
    if res.kind != template.kind:
        raise CaseError(f"adding constraint: no template for constraint kind {res.kind} (the template defines "
                        f"{template.kind})")
    problems = schema_errors(template, res.obj)
    if problems:
        return None, problems
    try:
        return parse_constraint(res.obj, template, source=res.path), []
    except (ValueError, KeyError) as exc:
        raise CaseError(f"adding constraint: {exc}") from None
