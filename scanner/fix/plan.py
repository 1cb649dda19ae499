"""Place `Change`s into files: the document that holds the field when the user owns it, else a strategic-merge
patch in the overlay being fixed (listed in its kustomization.yaml)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner.fix.changes import APPEND, CREATE, DELETE, Change
from scanner.fix.locate import Site, absolute, site_of
from scanner.fix.yamledit import YamlFile, descend, new_map
from scanner.load.kustomize.blame import MERGE_KEYS, ObjectBlame
from scanner.load.kustomize.render import kustomization_file
from scanner.load.kustomize.sources import value_at
from scanner.model import FieldPath, Resource

PATCH_PREFIX = "kguard-fix-"
# API groups whose kinds kustomize merges strategically (lists by merge key); other kinds get JSON6902 ops
BUILTIN_GROUPS = frozenset({"", "apps", "batch", "extensions", "policy", "networking.k8s.io",
                            "rbac.authorization.k8s.io", "autoscaling"})


@dataclass(slots=True)
class Placed:
    """A change written somewhere: the file (and, for an overlay patch, that it is one)."""

    change: Change
    resource: str
    file: Path
    patch: bool


@dataclass(slots=True)
class Planner:
    """Edits for one overlay (or plain files): files loaded once, changed in memory, texts on demand."""

    overlay: Path | None = None  # the overlay being fixed; None for plain files
    owned: Callable[[Path], bool] = lambda _: True  # may this file be edited for this overlay?
    in_base: bool = False
    files: dict[Path, YamlFile] = field(default_factory=dict)
    created: dict[Path, YamlFile] = field(default_factory=dict)
    placed: list[Placed] = field(default_factory=list)
    failed: list[tuple[Change, str, str]] = field(default_factory=list)  # change, resource, reason
    nodes: dict[tuple[Path, int], Any] = field(default_factory=dict)  # (file, id of a source value) -> its node

    def add(self, resource: Resource, changes: list[Change]) -> None:
        patch: list[Change] = []
        shown = resource.identity.display()
        for change in changes:
            site = site_of(resource, change.path)
            if site is not None and self._edit_in_place(resource, site, change):
                self.placed.append(Placed(change, shown, site.file, False))
            elif self.overlay is not None and isinstance(resource.blame, ObjectBlame):
                patch.append(change)
            else:
                self.failed.append((change, shown, "no source document holds this field"))
        if patch:
            self._overlay_patch(resource, patch)

    def add_objects(self, resource: Resource, docs: list[dict[str, Any]], rule_ids: dict[str, str]) -> None:
        """New objects (NetworkPolicies) for ``resource``'s namespace: appended to the file that declares a plain
        Namespace, or a new file in the overlay listed under its `resources:`. ``rule_ids``: object name -> rule."""
        shown = resource.identity.display()
        if self.overlay is None:
            file = absolute(resource.path)
            target = self.files.get(file) or self.files.setdefault(file, YamlFile(file))
            target.docs.extend(new_map(doc) for doc in docs)
        else:
            kfile = kustomization_file(self.overlay.resolve())
            if kfile is None:
                return
            slug = re.sub(r"[^a-z0-9]+", "-", f"networkpolicies-{resource.name}".lower()).strip("-")
            file = kfile.parent / f"{PATCH_PREFIX}{slug}.yaml"
            if file.exists() or file.is_symlink():
                self.failed.extend((Change((), CREATE, f"NetworkPolicy {doc['metadata']['name']}",
                                           rule_ids[doc["metadata"]["name"]]), shown, f"{file.name} exists already")
                                   for doc in docs)
                return
            self.created[file] = YamlFile(file, "# Written by `kguard fix`: default-deny NetworkPolicies and the "
                                                "traffic the namespace's Services declare.\n")
            self.created[file].docs = [new_map(doc) for doc in docs]
            kust = self.files.get(kfile) or self.files.setdefault(kfile, YamlFile(kfile))
            resources = kust.docs[0].get("resources")
            if resources is None:
                kust.docs[0]["resources"] = resources = new_map([])
            resources.append(file.name)
        for doc in docs:
            name = doc["metadata"]["name"]
            self.placed.append(Placed(Change((), CREATE, f"NetworkPolicy {doc['metadata']['namespace']}/{name}",
                                             rule_ids[name]), shown, file, False))

    # -- in place ------------------------------------------------------------------------------------------------
    def _edit_in_place(self, resource: Resource, site: Site, change: Change) -> bool:
        if not site.editable or not (self.in_base or self.overlay is None or self.owned(site.file)):
            return False
        rest = change.path[site.depth:]
        rendered = value_at(resource.obj, change.path)
        if rest and (any(isinstance(k, int) for k in rest) or change.op == DELETE or rendered is not None):
            return False  # the field (or a list item above it) comes from somewhere this document does not say
        if change.op == DELETE and not rest and len(site.held) == 2 and isinstance(site.held[0], int):
            return False  # a JSON6902 op that sets exactly this field: its value cannot go (the overlay patches it)
        node = self._node(site)
        if node is None:
            return False
        keys = (*site.held, *rest)
        parent = descend(node, keys[:-1], create=True)
        if not isinstance(parent, dict):
            return False
        _apply(parent, keys[-1], change, rendered)
        return True

    def _node(self, site: Site) -> Any:
        """The round-trip node of the document ``site`` names (found once: later edits change its content)."""
        key = (site.file, site.token or id(site.value))
        if key not in self.nodes:
            self.nodes[key] = self._find_node(site)
        return self.nodes[key]

    def _find_node(self, site: Site) -> Any:
        file = self.files.get(site.file)
        if file is None:
            file = self.files[site.file] = YamlFile(site.file)
        candidates = [obj for _, _, obj in file.objects()]
        for obj in [*candidates, *(doc for doc in file.docs if isinstance(doc, list))]:
            if obj == site.value:
                return obj
        if isinstance(site.value, dict):
            meta = site.value.get("metadata") or {}
            for obj in candidates:
                if obj.get("kind") == site.value.get("kind") and (obj.get("metadata") or {}).get("name") == meta.get(
                        "name") and (obj.get("metadata") or {}).get("namespace") == meta.get("namespace"):
                    return obj
        return None

    # -- overlay patch -------------------------------------------------------------------------------------------
    def _overlay_patch(self, resource: Resource, changes: list[Change]) -> None:
        assert self.overlay is not None and isinstance(resource.blame, ObjectBlame)
        blame = resource.blame
        kfile = kustomization_file(self.overlay.resolve())
        if kfile is None:
            for change in changes:
                self.failed.append((change, resource.identity.display(), "the overlay has no kustomization file"))
            return
        name = blame.origin.name or resource.name
        for layer in blame.layers:
            if layer.file.resolve() != kfile.resolve():
                name = layer.rename(name)
        slug = re.sub(r"[^a-z0-9]+", "-", f"{resource.kind}-{name}".lower()).strip("-")
        file = kfile.parent / f"{PATCH_PREFIX}{slug}.yaml"
        if file.is_symlink():  # planted in the checkout: neither read nor written through
            for change in changes:
                self.failed.append((change, resource.identity.display(), f"{file.name} is a symbolic link"))
            return
        json6902 = resource.identity.group not in BUILTIN_GROUPS
        body: dict[str, Any] = {}
        ops: list[dict[str, Any]] = []
        for change in changes:
            reason = _into_ops(ops, resource.obj, change) if json6902 else _into_patch(body, resource.obj, change)
            if reason:
                self.failed.append((change, resource.identity.display(), reason))
            else:
                self.placed.append(Placed(change, resource.identity.display(), kfile.parent, True))
        if not body and not ops:
            return
        for placed in self.placed:
            if placed.patch and placed.file == kfile.parent:
                placed.file = file
        doc: Any = ops or {"apiVersion": resource.api_version, "kind": resource.kind, "metadata": {"name": name},
                           **body}
        if file.exists() or file in self.created:
            existing = self.created.get(file) or self.files.setdefault(file, YamlFile(file))
            if json6902:
                existing.docs[0].extend(new_map(ops))
            else:
                _merge(existing.docs[0], doc)
            return
        how = "JSON6902 ops (a custom kind has no strategic merge)" if json6902 else "a strategic-merge patch"
        header = (f"# Written by `kguard fix` for this overlay's copy of a shared object:\n"
                  f"# {how} with Pod Security and RBAC settings (docs/fix.md).\n")
        self.created[file] = YamlFile(file, header)
        self.created[file].docs = [new_map(doc)]
        if json6902:  # an op list flush left, as kustomize's own examples write it
            self.created[file]._yaml.indent(mapping=2, sequence=2, offset=0)
        self._list_patch(kfile, file.name, resource.kind, name)

    def _list_patch(self, kfile: Path, entry: str, kind: str, name: str) -> None:
        kust = self.files.get(kfile) or self.files.setdefault(kfile, YamlFile(kfile))
        spec = kust.docs[0]
        patches = spec.get("patches")
        if patches is None:
            spec["patches"] = patches = new_map([])
        if any(isinstance(p, dict) and p.get("path") == entry for p in patches):
            return
        patches.append(new_map({"path": entry, "target": {"kind": kind, "name": f"^{_regex_literal(name)}$"}}))

    def texts(self) -> dict[Path, tuple[str | None, str]]:
        """{file: (old text or None for a new file, new text)} for every file that changes."""
        out: dict[Path, tuple[str | None, str]] = {}
        for path, file in self.files.items():
            text = file.text()
            if text != file.original:
                out[path] = (file.original, text)
        for path, file in self.created.items():
            out[path] = (None, _new_text(file))
        return out


def _regex_literal(text: str) -> str:
    """``text`` as a regular expression (kustomize's, RE2) that matches only itself; names rarely need escapes."""
    return re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", text)


def _new_text(file: YamlFile) -> str:
    import io

    out = io.StringIO()
    out.write(file.original)
    file._yaml.explicit_start = False
    file._yaml.dump_all(file.docs, out)
    return out.getvalue()


def _apply(parent: dict[str, Any], key: str | int, change: Change, rendered: Any) -> None:
    if change.op == DELETE:
        if isinstance(parent, dict) and key in parent:
            del parent[key]
    elif change.op == APPEND:
        current = parent.get(key)
        if isinstance(current, list):
            current.append(change.value)
        else:
            parent[key] = new_map([*(rendered if isinstance(rendered, list) else []), change.value])
    else:
        parent[key] = new_map(change.value)


def _into_patch(body: dict[str, Any], obj: dict[str, Any], change: Change) -> str:
    """Add ``change`` to a strategic-merge patch ``body`` of ``obj``; an error message when it cannot be said."""
    node: Any = body
    src: Any = obj
    path: FieldPath = change.path
    for i, key in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(key, int):
            item = src[key] if isinstance(src, list) and key < len(src) else None
            merge = next((k for k in MERGE_KEYS if isinstance(item, dict) and k in item), None)
            if merge is None:
                return "a list item without a merge key (name, port, ...) cannot be patched"
            found = next((x for x in node if x.get(merge) == item[merge]), None)
            if found is None:
                found = {merge: item[merge]}
                node.append(found)
            node, src = found, item
            continue
        src = src.get(key) if isinstance(src, dict) else None
        node = node.setdefault(key, [] if isinstance(nxt, int) else {})
    last = path[-1]
    if change.op == DELETE:
        node[last] = None
    elif change.op == APPEND:
        current = src.get(last) if isinstance(src, dict) else None
        node[last] = [*(current if isinstance(current, list) else []), change.value]
    else:
        node[last] = change.value
    return ""


def _into_ops(ops: list[dict[str, Any]], obj: dict[str, Any], change: Change) -> str:
    """Add ``change`` as JSON6902 ops on ``obj`` (rendered coordinates: kustomize does not reorder lists)."""
    path = change.path
    depth = 0
    node: Any = obj
    while depth < len(path) - 1:
        key = path[depth]
        child = node[key] if isinstance(node, list) and isinstance(key, int) and key < len(node) else (
            node.get(key) if isinstance(node, dict) and isinstance(key, str) else None)
        if not isinstance(child, dict | list):
            break
        node, depth = child, depth + 1
    pointer = "".join("/" + str(k).replace("~", "~0").replace("/", "~1") for k in path[:depth + 1])
    last = value_at(obj, path)
    if change.op == DELETE:
        if depth == len(path) - 1 and last is not None:
            ops.append({"op": "remove", "path": pointer})
        return ""
    if change.op == APPEND and isinstance(last, list):
        ops.append({"op": "add", "path": pointer + "/-", "value": change.value})
        return ""
    value: Any = [change.value] if change.op == APPEND else change.value
    for key in reversed(path[depth + 1:]):
        if isinstance(key, int):
            return "a list item that does not exist cannot be patched"
        value = {key: value}
    ops.append({"op": "add", "path": pointer, "value": value})
    return ""


def _merge(target: Any, patch: dict[str, Any]) -> None:
    """Deep-merge ``patch`` into the round-trip mapping ``target`` (lists of mappings by merge key)."""
    for key, value in patch.items():
        current = target.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            _merge(current, value)
        elif isinstance(value, list) and isinstance(current, list) and all(isinstance(v, dict) for v in value):
            for item in value:
                merge = next((k for k in MERGE_KEYS if k in item), None)
                found = next((x for x in current if isinstance(x, dict) and merge and x.get(merge) == item[merge]),
                             None)
                if found is None:
                    current.append(new_map(item))
                else:
                    _merge(found, item)
        else:
            target[key] = new_map(value)
