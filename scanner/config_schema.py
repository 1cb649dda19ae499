"""`.kguard.yaml` against its published JSON Schema (docs/json-schema/kguard-config-1.json), errors as `file:line`.

The schema ships inside the wheel (`scanner/_bundled/`); an editable install reads the repository's copy. A text
that passed is remembered in the user cache (`scanner.user_cache`, keyed by the exact text and schema), so the
pre-commit hook does not import and run jsonschema on every commit for an unchanged file.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from scanner import user_cache
from scanner.errors import UsageError
from scanner.load.yaml_source import MAX_NODES_PER_DOCUMENT
from scanner.model import FieldPath

SCHEMA_NAME = "kguard-config-1.json"
VERDICTS = "config-valid"  # user cache namespace: texts that passed the schema
VERDICT_FORMAT = "kguard config verdict 1"


def schema_path() -> Path:
    """The bundled copy in an installed wheel, else the published one in the repository."""
    bundled = Path(__file__).resolve().parent / "_bundled" / SCHEMA_NAME
    if bundled.is_file():
        return bundled
    return Path(__file__).resolve().parents[1] / "docs" / "json-schema" / SCHEMA_NAME


@functools.cache
def _schema_bytes() -> bytes:
    return schema_path().read_bytes()


@functools.cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(_schema_bytes().decode("utf-8")))


def dotted(path: FieldPath) -> str:
    """`helm.releases[0].chart` for ("helm", "releases", 0, "chart")."""
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


def load_with_lines(text: str) -> list[tuple[Any, dict[FieldPath, int]]]:
    """Every YAML document of ``text`` as (value, line of each field path); the line of a mapping entry is its key's.

    Values are PyYAML's safe ones (YAML 1.1 as `.kguard.yaml` has always been read: `n` stays a string). Raises
    yaml.YAMLError, or ValueError for a document that aliases expand beyond the manifests' node budget.
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    out = []
    for node in yaml.compose_all(text, Loader=loader):
        lines: dict[FieldPath, int] = {}
        _walk(node, (), node.start_mark.line + 1, lines, [MAX_NODES_PER_DOCUMENT])
        out.append((loader("").construct_document(node), lines))
    return out


def _walk(node: Any, path: FieldPath, line: int, lines: dict[FieldPath, int], left: list[int]) -> None:
    """Record the line of ``path`` and of everything below it; ``left`` is the node budget still unspent."""
    import yaml

    left[0] -= 1
    if left[0] < 0:  # aliases of aliases: a few lines that expand to billions of nodes
        raise ValueError(f"the document expands to more than {MAX_NODES_PER_DOCUMENT:,} nodes (aliases)")
    lines[path] = line
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                _walk(value, (*path, key.value), key.start_mark.line + 1, lines, left)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), item.start_mark.line + 1, lines, left)


def _line(path: FieldPath, lines: dict[FieldPath, int]) -> int | None:
    """The line of ``path``, else of its nearest ancestor that has one."""
    for end in range(len(path), -1, -1):
        found = lines.get(tuple(path[:end]))
        if found is not None:
            return found
    return None


def _describe(error: Any) -> tuple[FieldPath, str]:
    """Where the problem is and what it is, in the file's own terms."""
    path: FieldPath = tuple(error.absolute_path)
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties") or {})
        unknown = sorted(set(error.instance) - set(known)) if isinstance(error.instance, dict) else []
        if unknown:
            where = (*path, unknown[0])
            return where, (f"unknown setting `{dotted(where)}`" + (f" (known here: {', '.join(known)})"
                                                                 if known else ""))
    if "propertyNames" in error.absolute_schema_path and isinstance(error.instance, str):
        path = (*path, error.instance)  # a key that is not allowed: point at the key's own line
    if error.validator == "pattern" and isinstance(error.schema, dict) and error.schema.get("x-kguard-form"):
        return path, f"`{dotted(path) or '(top level)'}`: {error.instance!r} must be {error.schema['x-kguard-form']}"
    if error.validator == "enum":
        return path, f"`{dotted(path)}` must be one of {', '.join(map(str, error.validator_value))}, " \
                     f"not {error.instance!r}"
    if error.validator == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        wanted = [w for w in wanted if w != "null"] or wanted
        return path, f"`{dotted(path) or '(top level)'}` must be {' or '.join(_TYPE_WORDS.get(w, w) for w in wanted)}"
    return path, f"`{dotted(path) or '(top level)'}`: {error.message}"


_TYPE_WORDS = {"object": "a mapping", "array": "a list", "string": "a string", "boolean": "true or false",
               "integer": "a whole number", "number": "a number"}


def validate_text(text: str, value: Any, lines: dict[FieldPath, int], shown: str) -> None:
    """`validate` the document ``value`` read from ``text``, unless this exact text (read by this PyYAML) already
    passed against this exact schema: then it passes again without jsonschema."""
    import yaml

    entry = user_cache.key(VERDICT_FORMAT, yaml.__version__, _schema_bytes(), text)
    if user_cache.get(VERDICTS, entry) == b"valid":
        return
    validate(value, lines, shown)
    user_cache.put(VERDICTS, entry, b"valid")


def validate(value: Any, lines: dict[FieldPath, int], shown: str) -> None:
    """Raise UsageError `shown:LINE: what is wrong` for the first problem (in file order) the schema finds."""
    errors = list(_validator().iter_errors(value))
    if not errors:
        return
    described = []
    for error in errors:
        path, message = _describe(error)
        described.append((_line(path, lines) or 0, message))
    line, message = min(described)
    raise UsageError(f"{shown}:{line}: {message}" if line else f"{shown}: {message}")
