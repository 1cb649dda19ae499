"""Source blame for one rendered object: a field path is traced through the kustomization layers, outermost
first (transformer and merged-generator lines, then patches), else to where the object was declared."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scanner.load.kustomize.generators import generator_blame, merged_generator_claim
from scanner.load.kustomize.layers import Layer
from scanner.load.kustomize.sources import Blame, SourceDoc, value_at
from scanner.load.kustomize.targets import patch_docs
from scanner.load.kustomize.transformers import transformer_claim
from scanner.model import FieldPath

if TYPE_CHECKING:
    from scanner.load.kustomize.origin import Origin

MERGE_KEYS = ("name", "containerPort", "port", "mountPath", "devicePath", "ip", "type", "topologyKey")
_ADDRESSING = {("metadata", "name"), ("metadata", "namespace"), ("apiVersion",), ("kind",)}


@dataclass(slots=True)
class Claim:
    """A source that holds the first ``depth`` keys of the blamed path."""

    depth: int
    blame: Blame


class ObjectBlame:
    """``blame(field_path)`` for one rendered object (set as `Resource.blame`)."""

    def __init__(self, obj: dict[str, Any], origin: Origin, layers: list[Layer]) -> None:
        self.obj = obj
        self.origin = origin
        self.layers = layers  # innermost first
        names = [origin.name] if origin.name else []
        for layer in layers:
            if names:
                names.append(layer.rename(names[-1]))
        current = str((obj.get("metadata") or {}).get("name", ""))
        self.names = tuple(dict.fromkeys([*names, current]))
        declared = origin.doc.value if origin.doc is not None and isinstance(origin.doc.value, dict) else {}
        self.types = [(str(declared.get("apiVersion", "")), str(declared.get("kind", "")))] if declared else []

    def __call__(self, path: FieldPath) -> Blame | None:
        path = tuple(path)
        partial: list[Claim] = []
        for layer in reversed(self.layers):  # the outermost kustomization acts last, so it wins
            hit = (transformer_claim(layer, self.obj, path, self.names)
                   or merged_generator_claim(layer, self.obj, path, self.names))
            if hit is not None:
                return hit
            for patch in reversed([*layer.patches, *layer.json_patches]):
                for doc in reversed(patch_docs(patch, self.obj, self.names, self.types)):
                    claim = (_json_claim if patch.json6902 else _smp_claim)(doc, self.obj, path)
                    if claim is None:
                        continue
                    if claim.depth == len(path):
                        return claim.blame
                    partial.append(claim)
        declared = self._declared(path)
        # a patch that holds a deeper prefix than the declaration introduced that part of the object
        best = max(partial, key=lambda claim: claim.depth, default=None)  # the first of the deepest
        if best is not None and (declared is None or best.depth > declared.depth):
            return best.blame
        return None if declared is None else declared.blame

    def _declared(self, path: FieldPath) -> Claim | None:
        origin = self.origin
        if origin.doc is not None:
            held = align(self.obj, origin.doc.value, path)
            where = origin.doc.blame(held)
            return None if where is None else Claim(len(held), where)
        if origin.generator is not None:
            return Claim(0, generator_blame(origin.generator, origin.generator_key, path))
        return None


def align(rendered: Any, source: Any, path: FieldPath) -> FieldPath:
    """The longest prefix of ``path`` (in rendered coordinates) that ``source`` holds, in source coordinates."""
    out: list[str | int] = []
    for key in path:
        if isinstance(key, int):
            if not isinstance(rendered, list) or not isinstance(source, list) or key >= len(rendered):
                break
            j = _align_item(rendered[key], source, key)
            if j is None:
                break
            rendered, source = rendered[key], source[j]
            out.append(j)
        else:
            if not isinstance(source, dict) or key not in source:
                break
            rendered = rendered.get(key) if isinstance(rendered, dict) else None
            source = source[key]
            out.append(key)
    return tuple(out)


def _align_item(rendered: Any, source: list[Any], index: int) -> int | None:
    """The index in ``source`` of the list item that became ``rendered`` (by merge key, else by position)."""
    if isinstance(rendered, dict):
        for key in MERGE_KEYS:
            if key in rendered:
                for j, item in enumerate(source):
                    if isinstance(item, dict) and item.get(key) == rendered[key]:
                        return j
                return None
    return index if index < len(source) else None


def _smp_claim(doc: SourceDoc, rendered: dict[str, Any], path: FieldPath) -> Claim | None:
    """What a strategic-merge patch document holds of ``path`` (not the fields that only address the object)."""
    held = align(rendered, doc.value, path)
    if not held or held[:2] in _ADDRESSING or held in _ADDRESSING or held == ("metadata",):
        return None
    where = doc.blame(held)
    return None if where is None else Claim(len(held), where)


def _json_claim(doc: SourceDoc, rendered: dict[str, Any], path: FieldPath) -> Claim | None:
    """The deepest (then last) JSON6902 op that sets ``path`` or a prefix of it."""
    best: Claim | None = None
    ops = doc.value if isinstance(doc.value, list) else []
    for i, op in enumerate(ops):
        if not isinstance(op, dict) or op.get("op") not in ("add", "replace", "copy", "move"):
            continue
        target = _json_pointer(str(op.get("path", "")), rendered)
        if target is None or path[:len(target)] != target:
            continue
        rest = path[len(target):]
        held: FieldPath = ()
        if "value" in op and rest:
            held = align(value_at(rendered, target), op["value"], rest)
        key = (i, "value", *held) if "value" in op else (i, "path")
        where = doc.blame(key) or doc.blame((i,))
        if where is not None:
            claim = Claim(len(target) + len(held), where)
            if best is None or claim.depth >= best.depth:  # later ops win
                best = claim
    return best


def _json_pointer(pointer: str, rendered: Any) -> FieldPath | None:
    """A JSON6902 path in rendered coordinates ('-' is the last item); None when it does not resolve."""
    if not pointer.startswith("/"):
        return None
    out: list[str | int] = []
    value = rendered
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(value, list):
            index = len(value) - 1 if token == "-" else int(token) if token.isdigit() else None
            if index is None:
                return None
            out.append(index)
            value = value[index] if 0 <= index < len(value) else None
        else:
            out.append(token)
            value = value.get(token) if isinstance(value, dict) else None
    return tuple(out)
