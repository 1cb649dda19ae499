"""Overlays to Resources with source blame (eagerly, or deferred until a location is asked for)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from scanner.load.files import LoadResult, display_path, load_text
from scanner.load.kustomize.blame import ObjectBlame
from scanner.load.kustomize.layers import Layer
from scanner.load.kustomize.origin import (
    ORIGIN_ANNOTATION,
    TRANSFORMATIONS_ANNOTATION,
    annotation_value,
    find_origin,
    layers_of,
    strip_build_metadata,
)
from scanner.load.kustomize.render import RenderError, kustomization_file, render_with_base
from scanner.load.kustomize.sources import Blame
from scanner.model import FieldPath, InputError

MAX_PARALLEL_RENDERS = 4
REDACTED = "<redacted>"
ObjectKey = tuple[str, str, str, str]


def load_overlay(directory: str | Path, *, deferred_blame: bool = False) -> LoadResult:
    """Render one overlay and turn its objects into Resources with source blame.

    With ``deferred_blame`` the overlay is rendered without build metadata and blame renders it again only when a
    location is needed. A render failure is an `InputError` naming the overlay (nothing else is loaded for it).
    """
    overlay = Path(directory)
    shown = display_path(overlay)
    try:
        text, base = render_with_base(overlay, build_metadata=not deferred_blame)
    except RenderError as exc:
        error = InputError(path=exc.path or shown, line=exc.line, message=str(exc))
        return LoadResult(scanned=[shown], errors=[error])
    rendered = load_text(text, shown, origin="kustomize")
    for resource in rendered.resources:
        redact_values(resource.obj)
    kfile = kustomization_file(overlay.resolve())
    out = LoadResult(scanned=[display_path(kfile) if kfile else shown], skipped=rendered.skipped,
                     errors=rendered.errors)
    if deferred_blame:
        deferred = DeferredBlame(overlay)
        for resource in rendered.resources:
            resource.blame = functools.partial(deferred.locate, _object_key(resource.obj))
            resource.path, resource.positions = out.scanned[0], {}
        out.resources = rendered.resources
        return out
    cache: dict[str, Layer | None] = {}  # kustomization files of this render, parsed once
    for resource in rendered.resources:
        annotations = strip_build_metadata(resource.obj)
        layers = layers_of(annotation_value(annotations.get(TRANSFORMATIONS_ANNOTATION)), base, cache)
        origin = find_origin(resource.obj, annotation_value(annotations.get(ORIGIN_ANNOTATION)), base, layers, cache)
        resource.blame = ObjectBlame(resource.obj, origin, layers)  # falls back to the declaring document
        # the copy of the object is the overlay's (as with deferred blame, so fingerprints and suppressions agree)
        resource.path, resource.positions = out.scanned[0], {}
        out.resources.append(resource)
    return out


def redact_values(obj: dict[str, Any]) -> None:
    """Replace the values of a rendered Secret's or ConfigMap's `data`/`stringData`/`binaryData` by REDACTED.

    Generators copy whole files into them; no policy reads the values (only keys), and no report may repeat them.
    """
    if obj.get("apiVersion") != "v1" or obj.get("kind") not in ("Secret", "ConfigMap"):
        return
    for key in ("data", "stringData", "binaryData"):
        if isinstance(obj.get(key), dict):
            obj[key] = dict.fromkeys(obj[key], REDACTED)


class DeferredBlame:
    """Blame for a plain render: renders the overlay again with build metadata the first time a location is
    asked for (a clean overlay never pays for it). Objects are matched by apiVersion/kind/namespace/name."""

    def __init__(self, overlay: Path) -> None:
        self.overlay = overlay
        self._blamed: dict[ObjectKey, Any] | None = None
        self._lock = threading.Lock()

    def locate(self, key: ObjectKey, path: FieldPath) -> Blame | None:
        with self._lock:
            if self._blamed is None:
                self._blamed = {_object_key(r.obj): r for r in load_overlay(self.overlay).resources}
        resource = self._blamed.get(key)
        return None if resource is None else resource.locate(path)


def _object_key(obj: dict[str, Any]) -> ObjectKey:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    return (str(obj.get("apiVersion", "")), str(obj.get("kind", "")), str(meta.get("namespace") or ""),
            str(meta.get("name") or ""))


def load_overlays(dirs: Sequence[str], *, deferred_blame: bool = False) -> list[LoadResult]:
    """`load_overlay` for several overlays, rendering them concurrently (kubectl does the work)."""
    load = functools.partial(load_overlay, deferred_blame=deferred_blame)
    if len(dirs) < 2:
        return [load(d) for d in dirs]
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_RENDERS, len(dirs))) as pool:
        return list(pool.map(load, dirs))

