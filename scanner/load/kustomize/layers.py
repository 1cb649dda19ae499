"""Kustomization layers: a kustomization file (or Component) with its patches, as blame reads them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner.load.kustomize.sources import Blame, SourceDoc, embedded_docs, file_docs
from scanner.model import FieldPath


@dataclass(slots=True)
class Patch:
    """One patch of a kustomization: strategic-merge documents or a JSON6902 op list, with its target."""

    docs: list[SourceDoc]
    target: dict[str, Any] | None
    json6902: bool


@dataclass(slots=True)
class Layer:
    """A kustomization.yaml (or Component) and what it does to objects, in kustomize's transformer order."""

    file: Path
    doc: SourceDoc
    patches: list[Patch] = field(default_factory=list)  # patchesStrategicMerge, then patches
    json_patches: list[Patch] = field(default_factory=list)  # legacy patchesJson6902 (run after labels)

    @property
    def spec(self) -> dict[str, Any]:
        return self.doc.value if isinstance(self.doc.value, dict) else {}

    def line(self, *path: str | int) -> Blame | None:
        return self.doc.blame(tuple(path))

    def rename(self, name: str) -> str:
        return f"{self.spec.get('namePrefix') or ''}{name}{self.spec.get('nameSuffix') or ''}"


def load_layer(file: str) -> Layer | None:
    """Parse a kustomization file and its patches (patch files, inline patches, legacy fields)."""
    path = Path(file)
    docs = file_docs(file)
    if not docs or not isinstance(docs[0].value, dict):
        return None
    layer = Layer(file=path, doc=docs[0])
    spec = layer.spec
    for i, entry in enumerate(spec.get("patchesStrategicMerge") or []):
        if not isinstance(entry, str):
            continue
        if "\n" in entry or (":" in entry and not (path.parent / entry).is_file()):
            sources = embedded_docs(path, layer.doc, ("patchesStrategicMerge", i))
        else:
            sources = list(file_docs(str((path.parent / entry).resolve())))
        layer.patches.append(Patch(docs=sources, target=None, json6902=False))
    for i, entry in enumerate(spec.get("patches") or []):
        if isinstance(entry, dict):
            layer.patches.append(_patch(path, layer.doc, ("patches", i), entry))
    for i, entry in enumerate(spec.get("patchesJson6902") or []):
        if isinstance(entry, dict):
            layer.json_patches.append(_patch(path, layer.doc, ("patchesJson6902", i), entry, json6902=True))
    return layer


def cached_layer(file: str, cache: dict[str, Layer | None]) -> Layer | None:
    """`load_layer` once per file and ``cache`` (one render's kustomization files)."""
    if file not in cache:
        cache[file] = load_layer(file)
    return cache[file]


def _patch(file: Path, doc: SourceDoc, key: FieldPath, entry: dict[str, Any], json6902: bool = False) -> Patch:
    if isinstance(entry.get("path"), str):
        sources = list(file_docs(str((file.parent / entry["path"]).resolve())))
    else:
        sources = embedded_docs(file, doc, (*key, "patch"))
    is_json = json6902 or any(isinstance(s.value, list) for s in sources)
    target = entry.get("target") if isinstance(entry.get("target"), dict) else None
    return Patch(docs=sources, target=target, json6902=is_json)
