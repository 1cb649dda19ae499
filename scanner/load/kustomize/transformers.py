"""Blame from a kustomization's transformer fields: the kustomization.yaml line that sets a field (images,
replicas, commonAnnotations, labels/commonLabels, namePrefix/nameSuffix, namespace)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scanner.load.kustomize.layers import Layer
from scanner.load.kustomize.sources import Blame, value_at
from scanner.model import FieldPath

CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def transformer_claim(layer: Layer, obj: dict[str, Any], path: FieldPath, names: Sequence[str]) -> Blame | None:
    """The kustomization.yaml line of a transformer of ``layer`` that sets ``path`` (images run last)."""
    spec = layer.spec
    if len(path) >= 2 and path[-1] == "image" and any(k in CONTAINER_LISTS for k in path):
        repo = _image_repo(str(value_at(obj, path) or ""))
        for j, entry in reversed(list(enumerate(spec.get("images") or []))):
            if isinstance(entry, dict) and repo in (entry.get("newName"), entry.get("name")):
                for key in ("digest", "newTag", "newName"):
                    if key in entry:
                        return layer.line("images", j, key)
                return layer.line("images", j)
    if path == ("spec", "replicas") and value_at(obj, path) is not None:
        for j, entry in reversed(list(enumerate(spec.get("replicas") or []))):
            if isinstance(entry, dict) and entry.get("name") in names:
                return layer.line("replicas", j, "count") or layer.line("replicas", j)
    if len(path) == 3 and path[:2] == ("metadata", "annotations") and path[2] in (spec.get("commonAnnotations") or {}):
        return layer.line("commonAnnotations", path[2])
    label = _label_claim(layer, path)
    if label is not None:
        return label
    if path == ("metadata", "name"):
        for key in ("nameSuffix", "namePrefix"):
            if spec.get(key):
                return layer.line(key)
    subject_namespace = len(path) == 3 and path[0] == "subjects" and path[2] == "namespace"
    if (path == ("metadata", "namespace") or subject_namespace) and spec.get("namespace"):
        return layer.line("namespace")
    return None


def _image_repo(image: str) -> str:
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def _label_claim(layer: Layer, path: FieldPath) -> Blame | None:
    """commonLabels / labels[].pairs: metadata labels always, selectors and templates as configured."""
    if len(path) < 2 or not isinstance(path[-1], str):
        return None
    key = path[-1]
    on_metadata = path[:2] == ("metadata", "labels") and len(path) == 3
    on_template = path[-2] == "labels" and "template" in path
    on_selector = path[-2] == "matchLabels" or (path[:2] == ("spec", "selector") and len(path) == 3)
    if not (on_metadata or on_template or on_selector):
        return None
    for j, entry in reversed(list(enumerate(layer.spec.get("labels") or []))):
        pairs = entry.get("pairs") if isinstance(entry, dict) else None
        if not isinstance(pairs, dict) or key not in pairs:
            continue
        selectors = bool(entry.get("includeSelectors"))
        if on_metadata or selectors or (on_template and entry.get("includeTemplates")):
            return layer.line("labels", j, "pairs", key)
    if key in (layer.spec.get("commonLabels") or {}):
        return layer.line("commonLabels", key)
    return None
