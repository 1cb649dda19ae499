"""The one table of Kubernetes workload knowledge: which kinds carry a pod (template), in which API groups, where,
and which kinds control which.

Every stage reads it from here (loading, owners, drift, analyses, the scan's unknown-kind check), and the Rego
library's copy (the generated block of `policies/lib/workload.rego`) is written from it by `rego_block`; a test
keeps the two equal. Regenerate with `python -m scanner.workloads` (then `kguard gatekeeper build`).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanner.model import FieldPath


@dataclass(frozen=True, slots=True)
class WorkloadKind:
    """A kind whose objects carry a pod spec."""

    kind: str
    groups: tuple[str, ...]  # API groups that serve it ("" = core)
    template: FieldPath  # object root -> the pod (template): {metadata, spec}; () for a Pod itself
    controls: tuple[str, ...] = ()  # kinds it creates and owns (a controller ownerReference points back here)
    runs_pods: bool = True  # False for PodTemplate: a stored template nobody runs by itself

    @property
    def pod_spec(self) -> FieldPath:
        """Object root -> the pod spec."""
        return (*self.template, "spec")


WORKLOAD_KINDS: tuple[WorkloadKind, ...] = (
    WorkloadKind("Pod", ("",), ()),
    WorkloadKind("PodTemplate", ("",), ("template",), runs_pods=False),
    WorkloadKind("ReplicationController", ("",), ("spec", "template"), controls=("Pod",)),
    WorkloadKind("Deployment", ("apps", "extensions"), ("spec", "template"), controls=("ReplicaSet",)),
    WorkloadKind("StatefulSet", ("apps",), ("spec", "template"), controls=("Pod",)),
    WorkloadKind("DaemonSet", ("apps", "extensions"), ("spec", "template"), controls=("Pod",)),
    WorkloadKind("ReplicaSet", ("apps", "extensions"), ("spec", "template"), controls=("Pod",)),
    WorkloadKind("Job", ("batch",), ("spec", "template"), controls=("Pod",)),
    WorkloadKind("CronJob", ("batch",), ("spec", "jobTemplate", "spec", "template"), controls=("Job",)),
    WorkloadKind("Rollout", ("argoproj.io",), ("spec", "template"), controls=("ReplicaSet",)),  # Argo Rollouts
)

_BY_GROUP_KIND: dict[tuple[str, str], WorkloadKind] = {(g, w.kind): w for w in WORKLOAD_KINDS for g in w.groups}
# (group, kind) of every workload controller: whose controller ownerReference makes an object "managed".
CONTROLLERS: frozenset[tuple[str, str]] = frozenset(key for key, w in _BY_GROUP_KIND.items() if w.controls)
# Every place a known kind keeps its containers, deepest first (to recognise look-alike custom kinds).
CONTAINER_PATHS: tuple[FieldPath, ...] = tuple(sorted({(*w.pod_spec, "containers") for w in WORKLOAD_KINDS},
                                                      key=lambda p: (-len(p), p)))


def match_kinds() -> tuple[dict[str, list[str]], ...]:
    """Gatekeeper `match.kinds` entries for every workload kind: core group first, then by group, kinds sorted."""
    groups = sorted({g for w in WORKLOAD_KINDS for g in w.groups}, key=lambda g: (g != "", g))
    return tuple({"apiGroups": [g], "kinds": sorted(w.kind for w in WORKLOAD_KINDS if g in w.groups)} for g in groups)


def group_of(api_version: str) -> str:
    """The API group of an apiVersion ("" for the core group's "v1")."""
    return api_version.rpartition("/")[0]


def workload(group: str, kind: str) -> WorkloadKind | None:
    """The table entry of (group, kind); None when that is not a workload kind."""
    return _BY_GROUP_KIND.get((group, kind))


def workload_of(obj: dict[str, Any]) -> WorkloadKind | None:
    """The table entry of an object (by its apiVersion's group and its kind)."""
    return workload(group_of(str(obj.get("apiVersion", ""))), str(obj.get("kind", "")))


def template_path(group: str, kind: str) -> FieldPath | None:
    """Where (group, kind) keeps its pod template; () for a Pod; None for other kinds."""
    found = workload(group, kind)
    return None if found is None else found.template


def pod_spec_path(group: str, kind: str) -> FieldPath | None:
    """Where (group, kind) keeps its pod spec; None for other kinds."""
    found = workload(group, kind)
    return None if found is None else found.pod_spec


def value_at(obj: Any, path: FieldPath) -> Any:
    """The value at ``path`` (mapping keys and list indices); None when a step is missing."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(obj, list) or not -len(obj) <= step < len(obj):
                return None
        elif not isinstance(obj, dict):
            return None
        obj = obj[step] if isinstance(step, int) else obj.get(step)
    return obj


def pod_spec_of(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec of a workload object; None for other kinds or when it is not a mapping."""
    found = workload_of(obj)
    spec = None if found is None else value_at(obj, found.pod_spec)
    return spec if isinstance(spec, dict) else None


def template_of_kind(kind: str) -> FieldPath | None:
    """Where the workload kind ``kind`` keeps its pod template (kind names are unique in the table)."""
    return next((w.template for w in WORKLOAD_KINDS if w.kind == kind), None)


def controller_ref(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The ownerReference with ``controller: true`` (there is at most one)."""
    meta = obj.get("metadata")
    refs = meta.get("ownerReferences") if isinstance(meta, dict) else None
    for ref in refs if isinstance(refs, list) else ():
        if isinstance(ref, dict) and ref.get("controller") is True:
            return ref
    return None


def workload_controller(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The controller ownerReference of ``obj`` when it points at a workload controller (a ReplicaSet, a Job, ...)."""
    ref = controller_ref(obj)
    if ref is None or (group_of(str(ref.get("apiVersion", ""))), ref.get("kind")) not in CONTROLLERS:
        return None
    return ref


# The generated part of policies/lib/workload.rego lies between these lines.
REGO_BEGIN = "# BEGIN generated by `python -m scanner.workloads` from scanner/workloads.py. Do not edit by hand."
REGO_END = "# END generated"
REGO_LIBRARY = Path(__file__).resolve().parents[1] / "policies" / "lib" / "workload.rego"


def rego_block() -> str:
    """The Rego table: API group -> kind -> path from the object root to the pod (template)."""
    groups = sorted({g for w in WORKLOAD_KINDS for g in w.groups})
    lines = [REGO_BEGIN, "", "# API group -> kind -> path from the object root to its pod (template) {metadata, spec}.",
             "_template_paths := {"]
    for group in groups:
        lines.append(f"\t{json.dumps(group)}: {{")
        lines += [f"\t\t{json.dumps(w.kind)}: {json.dumps(list(w.template))},"
                  for w in sorted(WORKLOAD_KINDS, key=lambda w: w.kind) if group in w.groups]
        lines.append("\t},")
    lines += ["}", "", REGO_END]
    return "\n".join(lines)


def render_rego_library(text: str) -> str:
    """``text`` (the Rego library) with its generated block replaced by `rego_block()`."""
    start, end = text.find(REGO_BEGIN), text.find(REGO_END)
    if start < 0 or end < start:
        raise ValueError(f"the Rego library has no block between {REGO_BEGIN!r} and {REGO_END!r}")
    return text[:start] + rego_block() + text[end + len(REGO_END):]


def main(argv: list[str]) -> int:
    """Rewrite the generated block of the Rego library (``--check``: only say whether it is up to date)."""
    current = REGO_LIBRARY.read_text()
    wanted = render_rego_library(current)
    if current == wanted:
        return 0
    if "--check" in argv:
        print(f"{REGO_LIBRARY}: the workload table is out of date (run `python -m scanner.workloads`)",
              file=sys.stderr)
        return 1
    REGO_LIBRARY.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
