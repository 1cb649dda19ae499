"""Blame for objects from configMapGenerator/secretGenerator entries: data keys at their literal, file entry or
env-file line; labels and annotations at the entry's `options` or the kustomization's `generatorOptions`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scanner.load.files import display_path
from scanner.load.kustomize.layers import Layer
from scanner.load.kustomize.sources import START, Blame, file_lines, value_at
from scanner.model import FieldPath, Position

GENERATOR_FIELDS = {"ConfigMap": "configMapGenerator", "Secret": "secretGenerator"}


def generator_blame(layer: Layer, key: FieldPath, path: FieldPath) -> Blame:
    """Where generator entry ``key`` of ``layer`` sets ``path`` of the generated object; else the entry itself."""
    fallback = layer.line(*key) or (layer.doc.path, START)
    if len(path) == 3 and path[0] == "metadata" and path[1] in ("labels", "annotations"):
        for where in ((*key, "options"), ("generatorOptions",)):
            options = value_at(layer.spec, where) if key else None
            if isinstance(options, dict) and isinstance(options.get(path[1]), dict) and path[2] in options[path[1]]:
                return layer.line(*where, path[1], path[2]) or fallback
    return _data_key_blame(layer, key, path) or fallback


def merged_generator_claim(layer: Layer, obj: dict[str, Any], path: FieldPath, names: Sequence[str]) -> Blame | None:
    """An overlay's `behavior: merge|replace` generator entry that sets ``data.KEY`` of a generated object."""
    field_name = GENERATOR_FIELDS.get(str(obj.get("kind")))
    if field_name is None:
        return None
    for j, entry in reversed(list(enumerate(layer.spec.get(field_name) or []))):
        if isinstance(entry, dict) and entry.get("behavior") in ("merge", "replace") and entry.get("name") in names:
            return _data_key_blame(layer, (field_name, j), path)
    return None


def _data_key_blame(layer: Layer, key: FieldPath, path: FieldPath) -> Blame | None:
    """Where generator entry ``key`` of ``layer`` defines ``data.KEY`` (literal, file entry, env-file line)."""
    entry = value_at(layer.spec, key)
    if not isinstance(entry, dict) or len(path) != 2 or path[0] not in ("data", "binaryData", "stringData"):
        return None
    data_key = str(path[1])
    for j, literal in enumerate(entry.get("literals") or []):
        if isinstance(literal, str) and literal.split("=", 1)[0].strip() == data_key:
            return layer.line(*key, "literals", j)
    for j, spec in enumerate(entry.get("files") or []):
        if isinstance(spec, str):
            name = spec.split("=", 1)[0] if "=" in spec else Path(spec).name
            if name == data_key:
                return layer.line(*key, "files", j)
    envs = [*(entry.get("envs") or []), *([entry["env"]] if isinstance(entry.get("env"), str) else [])]
    for env in envs:
        env_file = (layer.file.parent / str(env)).resolve()
        for n, line in enumerate(file_lines(str(env_file)), start=1):
            if line.split("=", 1)[0].strip() == data_key and not line.lstrip().startswith("#"):
                return display_path(env_file), Position(n, 1, n, len(line) + 1)
    return None
