"""Which source document holds a rendered field: the declaration or a patch, traced like the scan's blame
(`scanner.load.kustomize.blame`), but answering with the document and the path inside it, so it can be edited."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanner.load.files import repo_root
from scanner.load.kustomize.blame import ObjectBlame, align
from scanner.load.kustomize.render import KUSTOMIZATION_FILES
from scanner.load.kustomize.sources import SourceDoc
from scanner.load.kustomize.targets import patch_docs
from scanner.model import FieldPath, Resource

_ADDRESSING = {("metadata", "name"), ("metadata", "namespace"), ("apiVersion",), ("kind",), ("metadata",)}


@dataclass(frozen=True, slots=True)
class Site:
    """A document holding the first ``depth`` keys of a rendered path, at ``held`` (its own coordinates)."""

    file: Path
    value: Any  # the document's (or List item's) value, to find it again in the file
    held: FieldPath
    depth: int
    editable: bool  # a document of its own in a regular file (declaration, strategic-merge or JSON6902 patch file)
    token: int = 0  # identifies the document across calls (its edits change its content)


def absolute(shown: str) -> Path:
    """The file behind a display path (repository-relative, else relative to the cwd)."""
    given = Path(shown)
    if given.is_absolute():
        return given
    cwd = Path.cwd()
    root = repo_root(str(cwd))
    if root is not None and (root / given).exists():
        return (root / given).resolve()
    return Path(os.path.normpath(cwd / given))


def site_of(resource: Resource, path: FieldPath) -> Site | None:
    """Where the deepest prefix of ``path`` comes from, for a plain file or a rendered overlay object."""
    blame = resource.blame
    if isinstance(blame, ObjectBlame):
        return _trace(blame, path)
    if blame is not None or resource.origin not in ("file",):
        return None
    held = align(resource.obj, resource.obj, path)
    value = resource.obj
    if ("metadata", "namespace") not in resource.positions and resource.namespace:
        # the scan put the object in the default namespace; the document itself does not say so
        value = {**value, "metadata": {k: v for k, v in resource.metadata.items() if k != "namespace"}}
    return Site(absolute(resource.path), value, held, len(held), True, id(resource.obj))


def _trace(blame: ObjectBlame, path: FieldPath) -> Site | None:
    partial: list[Site] = []
    for layer in reversed(blame.layers):  # the outermost kustomization acts last, so it wins
        for patch in reversed([*layer.patches, *layer.json_patches]):
            for doc in reversed(patch_docs(patch, blame.obj, blame.names, blame.types)):
                site = _json_site(doc, blame.obj, path) if patch.json6902 else _smp_site(doc, blame.obj, path)
                if site is None:
                    continue
                if site.depth == len(path):
                    return site
                partial.append(site)
    declared = None
    doc = blame.origin.doc
    if doc is not None:
        held = align(blame.obj, doc.value, path)
        declared = Site(absolute(doc.path), doc.value, held, len(held), _editable(doc))
    best = max(partial, key=lambda site: site.depth, default=None)
    if best is not None and (declared is None or best.depth > declared.depth):
        return best
    return declared


def _editable(doc: SourceDoc, allow_list: bool = False) -> bool:
    inline = doc.line_offset or doc.column_offset or Path(doc.path).name in KUSTOMIZATION_FILES
    return not inline and (isinstance(doc.value, dict) or (allow_list and isinstance(doc.value, list)))


def _smp_site(doc: SourceDoc, rendered: dict[str, Any], path: FieldPath) -> Site | None:
    held = align(rendered, doc.value, path)
    if not held or held[:2] in _ADDRESSING or held in _ADDRESSING:
        return None
    return Site(absolute(doc.path), doc.value, held, len(held), _editable(doc))


def _json_site(doc: SourceDoc, rendered: dict[str, Any], path: FieldPath) -> Site | None:
    """The deepest (then last) JSON6902 op that sets ``path`` or a prefix of it; editable inside its `value`."""
    from scanner.load.kustomize.blame import _json_pointer  # the scan's reading of op paths, shared on purpose
    from scanner.load.kustomize.sources import value_at

    best = None
    for i, op in enumerate(doc.value if isinstance(doc.value, list) else []):
        if not isinstance(op, dict) or op.get("op") not in ("add", "replace", "copy", "move"):
            continue
        target = _json_pointer(str(op.get("path", "")), rendered)
        if target is None or path[:len(target)] != target:
            continue
        if "value" not in op:
            site = Site(absolute(doc.path), doc.value, (), len(target), False)
        else:
            inside = align(value_at(rendered, target), op["value"], path[len(target):])
            site = Site(absolute(doc.path), doc.value, (i, "value", *inside), len(target) + len(inside),
                        _editable(doc, allow_list=True))
        if best is None or site.depth >= best.depth:
            best = site
    return best
