"""Which patch documents apply to a rendered object: patch targets (kind, group, version, name, label and
annotation selectors) and, for untargeted strategic-merge patches, the document's own kind and name."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from scanner.load.kustomize.layers import Patch
from scanner.load.kustomize.sources import SourceDoc

_SELECTOR_TERM = re.compile(
    r"\s*(?:(?P<not>!)\s*(?P<absent>[^\s,!=()]+)"
    r"|(?P<key>[^\s,!=()]+)\s*(?:(?P<op>==|=|!=)\s*(?P<value>[^\s,()]*)"
    r"|\s+(?P<setop>in|notin)\s*\((?P<values>[^)]*)\))?)\s*(?:,|$)")


def patch_docs(patch: Patch, obj: dict[str, Any], names: Sequence[str],
               types: Sequence[tuple[str, str]] = ()) -> list[SourceDoc]:
    """The documents of ``patch`` that apply to ``obj`` (which may have had other ``types`` earlier)."""
    if patch.target is not None:
        return patch.docs if matches_target(patch.target, obj, names, types) else []
    kinds = {obj.get("kind"), *(kind for _, kind in types)}
    out = []
    for doc in patch.docs:
        value = doc.value if isinstance(doc.value, dict) else {}
        meta = value.get("metadata") or {}
        if value.get("kind") in kinds and meta.get("name") in names:
            out.append(doc)
    return out


def matches_target(target: dict[str, Any], obj: dict[str, Any], names: Sequence[str],
                   types: Sequence[tuple[str, str]] = ()) -> bool:
    """Does a patch ``target`` select ``obj``? ``types`` are other (apiVersion, kind) the object had earlier."""
    if not any(_matches_type(target, api, kind)
               for api, kind in [(str(obj.get("apiVersion", "")), str(obj.get("kind", ""))), *types]):
        return False
    wanted_name = target.get("name")
    if wanted_name and not any(re.fullmatch(str(wanted_name), n) for n in names):
        return False
    meta = obj.get("metadata") or {}
    for key, field_name in (("labelSelector", "labels"), ("annotationSelector", "annotations")):
        selector = target.get(key)
        if isinstance(selector, str) and selector.strip() and not selector_matches(selector, meta.get(field_name)):
            return False
    return True


def _matches_type(target: dict[str, Any], api_version: str, kind: str) -> bool:
    group, _, version = api_version.rpartition("/")
    for key, actual in (("kind", kind), ("group", group), ("version", version)):
        wanted = target.get(key)
        if wanted and not re.fullmatch(str(wanted), actual):
            return False
    return True


def selector_matches(selector: str, labels: Any) -> bool:
    """A Kubernetes label selector string (equality- and set-based terms) against a label map."""
    labels = labels if isinstance(labels, dict) else {}
    pos = 0
    while pos < len(selector):
        term = _SELECTOR_TERM.match(selector, pos)
        if term is None or term.end() == pos:
            return False  # unparseable: kustomize would reject it, so claim nothing
        pos = term.end()
        if term.group("not"):
            if term.group("absent") in labels:
                return False
            continue
        key, actual = term.group("key"), labels.get(term.group("key"))
        if term.group("op"):
            equal = actual is not None and str(actual) == term.group("value")
            if equal == (term.group("op") == "!="):
                return False
        elif term.group("setop"):
            values = {v.strip() for v in term.group("values").split(",") if v.strip()}
            inside = actual is not None and str(actual) in values
            if inside != (term.group("setop") == "in"):
                return False
        elif key not in labels:
            return False
    return True
