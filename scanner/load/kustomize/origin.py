"""kustomize's build annotations on a rendered object: the layers that processed it (transformations annotation)
and where it was declared (origin annotation: a file document or a generator entry)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from scanner.load.kustomize.layers import Layer, cached_layer
from scanner.load.kustomize.sources import SourceDoc, file_docs
from scanner.model import FieldPath

ORIGIN_ANNOTATION = "config.kubernetes.io/origin"
TRANSFORMATIONS_ANNOTATION = "alpha.config.kubernetes.io/transformations"
BUILD_ANNOTATIONS = (ORIGIN_ANNOTATION, TRANSFORMATIONS_ANNOTATION)
_FastLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(slots=True)
class Origin:
    """Where an object was declared: a file document, or a generator entry in a kustomization."""

    doc: SourceDoc | None = None
    generator: Layer | None = None
    generator_key: FieldPath = ()
    name: str = ""


def strip_build_metadata(obj: dict[str, Any]) -> dict[str, str]:
    """Remove kustomize's build annotations from ``obj``; returns them."""
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if not isinstance(annotations, dict):
        return {}
    found = {k: annotations.pop(k) for k in BUILD_ANNOTATIONS if k in annotations}
    if not annotations:
        del meta["annotations"]
    return {k: str(v) for k, v in found.items()}


def annotation_value(text: str | None) -> Any:
    """A build annotation's YAML value (no positions needed, so the plain libyaml loader)."""
    if not text:
        return None
    try:
        return yaml.load(text, Loader=_FastLoader)
    except yaml.YAMLError:
        return None


def layers_of(transformations: Any, base: Path, cache: dict[str, Layer | None]) -> list[Layer]:
    """The kustomizations named by a transformations annotation, innermost first, each once."""
    files: list[str] = []
    for item in transformations if isinstance(transformations, list) else []:
        configured = item.get("configuredIn") if isinstance(item, dict) else None
        if isinstance(configured, str):
            files.append(_join(base, configured))
    return [layer for f in dict.fromkeys(files) if (layer := cached_layer(f, cache)) is not None]


def find_origin(obj: dict[str, Any], origin: Any, base: Path, layers: list[Layer],
                cache: dict[str, Layer | None]) -> Origin:
    """The declaration an origin annotation points at, matched to ``obj`` by kind and (prefixed/suffixed) name."""
    if not isinstance(origin, dict):
        return Origin()
    kind = obj.get("kind")
    rendered_name = str((obj.get("metadata") or {}).get("name", ""))

    def final_name(name: str) -> str:
        for layer in layers:
            name = layer.rename(name)
        return name

    if isinstance(origin.get("path"), str) and not origin.get("repo"):
        objects = _objects(_join(base, origin["path"]))
        # a patch may have changed the kind (a Deployment made into an Argo Rollout): then any kind will do
        docs = [d for d in objects if d.value.get("kind") == kind] or objects
        by_name = {str((d.value.get("metadata") or {}).get("name", "")): d for d in docs}
        for name, doc in by_name.items():
            if final_name(name) == rendered_name:
                return Origin(doc=doc, name=name)
        inside = sorted((n for n in by_name if n and n in rendered_name), key=len, reverse=True)
        if inside:
            return Origin(doc=by_name[inside[0]], name=inside[0])
        if docs:
            return Origin(doc=docs[0], name=str((docs[0].value.get("metadata") or {}).get("name", "")))
        return Origin()
    configured_by = origin.get("configuredBy") or {}
    generator_kind = configured_by.get("kind") if isinstance(configured_by, dict) else None
    if generator_kind in ("ConfigMapGenerator", "SecretGenerator") and isinstance(origin.get("configuredIn"), str):
        layer = cached_layer(_join(base, origin["configuredIn"]), cache)
        if layer is None:
            return Origin()
        field_name = "configMapGenerator" if generator_kind == "ConfigMapGenerator" else "secretGenerator"
        for j, entry in enumerate(layer.spec.get(field_name) or []):
            name = str(entry.get("name", "")) if isinstance(entry, dict) else ""
            pattern = re.escape(final_name(name)).replace(re.escape(name), re.escape(name) + r"(-[a-z0-9]{10})?", 1)
            if name and re.fullmatch(pattern, rendered_name):
                return Origin(generator=layer, generator_key=(field_name, j), name=name)
        return Origin(generator=layer, generator_key=(field_name,))
    return Origin()


def _join(base: Path, relative: str) -> str:
    """Lexical join: the wrapper directory the annotations are relative to no longer exists."""
    return os.path.normpath(os.path.join(base, relative))


def _objects(file: str) -> list[SourceDoc]:
    """The object documents of a file, with the items of `kind: List` documents as documents of their own."""
    out = []
    for doc in file_docs(file):
        value = doc.value
        if not isinstance(value, dict):
            continue
        items = value.get("items")
        if str(value.get("kind", "")).endswith("List") and isinstance(items, list):
            of_item = doc.positions.below(("items",))
            for i, item in enumerate(items):
                if isinstance(item, dict):
                    out.append(SourceDoc(doc.path, item, of_item.get(i, {})))
            continue
        out.append(doc)
    return out
