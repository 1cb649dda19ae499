"""Controller ownership: a Pod made by a ReplicaSet made by a Deployment is reported at the Deployment.

Only workload controllers count: a controller `ownerReference` (``controller: true``) to a kind and API group the
workload table (`scanner.workloads.CONTROLLERS`) lists: ReplicaSet, Job, Deployment, StatefulSet, DaemonSet,
CronJob, ReplicationController or Argo Rollout. Anything else (a Pod owned by a Node, i.e. a static mirror pod, or by
an operator's custom resource) is treated as standalone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from scanner.model import FieldPath, Finding, IdentityKey, Location, Resource, ResourceId, fingerprint
from scanner.workloads import CONTROLLERS, controller_ref, template_of_kind

__all__ = ["collapse", "controller_ref", "owners", "rebase", "top_owner"]

# Where a kind the table does not know keeps its pod template (findings moved to an owner get their path rebased).
DEFAULT_POD_PREFIX: FieldPath = ("spec", "template")
MAX_DEPTH = 5



def _ref_identity(ref: dict[str, Any], namespace: str | None) -> ResourceId:
    return ResourceId(api_version=str(ref.get("apiVersion", "")), kind=str(ref.get("kind", "")),
                      name=str(ref.get("name", "")), namespace=namespace)


def top_owner(res: Resource, index: dict[IdentityKey, Resource]) -> ResourceId | None:
    """The outermost workload controller of ``res`` (following ReplicaSet -> Deployment, Job -> CronJob, ...).

    Owners that were not read (missing, forbidden) still count, by the identity in the reference.
    None when ``res`` has no workload controller.
    """
    owner: ResourceId | None = None
    current: dict[str, Any] | None = res.obj
    for _ in range(MAX_DEPTH):
        ref = controller_ref(current) if current is not None else None
        if ref is None:
            break
        ident = _ref_identity(ref, res.namespace)
        if (ident.group, ident.kind) not in CONTROLLERS:
            break
        owner = ident
        found = index.get(ident.key)
        if found is None and ident.kind == "ReplicaSet":
            owner = _deployment_by_hash(current, ident, index) or owner
            break
        uid = ref.get("uid")
        if found is not None and uid and (found.metadata.get("uid") not in (None, uid)):
            break  # a namesake, not the owner: stop at the reference
        current = found.obj if found is not None else None
    return owner


def _deployment_by_hash(pod: dict[str, Any] | None, rs: ResourceId,
                        index: dict[IdentityKey, Resource]) -> ResourceId | None:
    """An unreadable ReplicaSet `<deployment>-<pod-template-hash>` still names its Deployment (when that was read)."""
    labels = ((pod or {}).get("metadata") or {}).get("labels") or {}
    suffix = f"-{labels.get('pod-template-hash', '')}"
    if suffix == "-" or not rs.name.endswith(suffix):
        return None
    deployment = index.get(("apps", "Deployment", rs.namespace or "", rs.name[: -len(suffix)]))
    return deployment.identity if deployment is not None else None


def owners(resources: Iterable[Resource]) -> dict[IdentityKey, ResourceId]:
    """Controlled object -> its outermost workload owner, for every controlled object."""
    items = list(resources)
    index = {r.key: r for r in items}
    result: dict[IdentityKey, ResourceId] = {}
    for res in items:
        owner = top_owner(res, index)
        if owner is not None:
            result[res.key] = owner
    return result


def _template_prefix(kind: str) -> FieldPath:
    found = template_of_kind(kind)
    return DEFAULT_POD_PREFIX if found is None else found


def rebase(path: FieldPath, child_kind: str, owner_kind: str) -> FieldPath:
    """Move a field path from the child's pod (template) to the owner's pod template."""
    child = _template_prefix(child_kind)
    owner = _template_prefix(owner_kind)
    if child_kind == "Pod":
        return owner + path if path and path[0] in ("spec", "metadata") else path
    if child_kind == "Job" and owner_kind == "CronJob":
        return ("spec", "jobTemplate", *path) if path[:1] in (("spec",), ("metadata",)) else path
    if path[: len(child)] == child:
        return owner + path[len(child):]
    return path


def collapse(findings: list[Finding], owned: dict[IdentityKey, ResourceId],
             locations: dict[IdentityKey, Location]) -> list[Finding]:
    """Report findings on controlled objects once, at the owner.

    A finding on a controlled object is dropped when its owner has a finding of the same rule and constraint;
    otherwise the first one (sorted) moves to the owner, saying on how many controlled objects it was seen.
    """
    kept: list[Finding] = []
    moved: dict[tuple[IdentityKey, str, str], list[Finding]] = {}
    for finding in findings:
        owner = owned.get(finding.resource.key)
        if owner is None:
            kept.append(finding)
        else:
            moved.setdefault((owner.key, finding.rule_id, finding.constraint), []).append(finding)
    at_owner = {(f.resource.key, f.rule_id, f.constraint) for f in kept}
    for group_key, items in sorted(moved.items()):
        if group_key in at_owner:
            continue
        items.sort(key=lambda f: (f.resource.kind, f.resource.name, f.sort_key()))
        first = items[0]
        owner = owned[first.resource.key]
        names = sorted({f"{f.resource.kind} {f.resource.name}" for f in items})
        seen = f"seen on {names[0]}" + (f" and {len(names) - 1} more controlled object(s)" if len(names) > 1 else "")
        path = rebase(first.field_path, first.resource.kind, owner.kind)
        message = f"{first.message} ({seen} of {owner.kind} {owner.name})"
        location = locations.get(owner.key, first.location)
        kept.append(replace(first, resource=owner, field_path=path, message=message, location=location,
                            fingerprint=fingerprint(first.rule_id, owner, path, first.message)))
    return kept
