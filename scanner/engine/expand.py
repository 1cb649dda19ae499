"""Pod templates of custom workload kinds, evaluated as Pods (Gatekeeper's ExpansionTemplate semantics).

`--pod-template-path KIND=PATH` (e.g. `Rollout=spec.template`, `Workflow=spec.templates[0].podSpecPatch`) says where a
kind keeps its pod template (`{metadata, spec}`). Each such object yields an implied Pod that the Pod-matching
constraints review; findings are reported on the parent object, at the parent's source lines, with Gatekeeper's
`[Implied by ...]` message prefix. Implied Pods are never added to `data.inventory`, as in Gatekeeper.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from scanner.errors import UsageError
from scanner.model import FieldPath, Resource

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True, slots=True)
class PodTemplatePath:
    kind: str
    group: str | None  # None: any API group
    path: FieldPath

    @property
    def name(self) -> str:
        return f"expand-{self.kind.lower()}"


def parse_spec(text: str) -> PodTemplatePath:
    """`KIND=PATH` or `KIND.GROUP=PATH`; PATH is dotted with `[n]` indexes (a leading `.` or `{...}` is allowed)."""
    kind, sep, raw_path = text.partition("=")
    raw_path = raw_path.strip().removeprefix("{").removesuffix("}").lstrip(".")
    if not sep or not kind.strip() or not raw_path:
        raise UsageError(f"--pod-template-path {text!r}: expected KIND=PATH, e.g. Rollout=spec.template")
    steps: list[str | int] = []
    pos = 0
    for match in _STEP.finditer(raw_path):
        if match.start() not in (pos, pos + 1):
            raise UsageError(f"--pod-template-path {text!r}: cannot read path {raw_path!r}")
        steps.append(int(match.group(2)) if match.group(2) is not None else match.group(1))
        pos = match.end()
    kind_name, _, group = kind.strip().partition(".")
    return PodTemplatePath(kind=kind_name, group=group or None, path=tuple(steps))


def _get(obj: Any, path: FieldPath) -> Any:
    for step in path:
        if isinstance(step, int):
            if not isinstance(obj, list) or step >= len(obj):
                return None
            obj = obj[step]
        else:
            if not isinstance(obj, dict):
                return None
            obj = obj.get(step)
    return obj


def _applies(spec: PodTemplatePath, res: Resource) -> bool:
    return res.kind == spec.kind and (spec.group is None or res.identity.group == spec.group)


def implied_pods(resources: list[Resource], specs: list[PodTemplatePath]) -> list[Resource]:
    """One implied Pod per configured object that has a pod template at its path."""
    pods: list[Resource] = []
    for res in resources:
        for spec in specs:
            if not _applies(spec, res):
                continue
            template = _get(res.obj, spec.path)
            if not isinstance(template, dict) or not isinstance(template.get("spec"), dict):
                continue
            pods.append(_implied_pod(res, spec, template))
    return pods


def _implied_pod(parent: Resource, spec: PodTemplatePath, template: dict[str, Any]) -> Resource:
    meta = dict(template.get("metadata") or {})
    meta["name"] = f"{parent.name.lower()}-pod"  # Gatekeeper names the resultant "<parent, lower-cased>-pod"
    if parent.namespace:
        meta["namespace"] = parent.namespace
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"]}
    prefix = spec.path

    def blame(field_path: FieldPath) -> tuple[str, Any]:
        if field_path[:1] == ("metadata",) and field_path[1:2] in (("name",), ("namespace",)):
            return parent.locate(field_path)
        return parent.locate((*prefix, *field_path))

    return Resource(obj=pod, path=parent.path, doc_index=parent.doc_index, origin=parent.origin, blame=blame,
                    parent=parent, parent_path=prefix, implied_by=spec.name)
