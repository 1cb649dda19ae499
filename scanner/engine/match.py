"""Gatekeeper's constraint `spec.match`, evaluated offline.

Order and meaning follow Gatekeeper: kinds -> scope -> namespaces -> excludedNamespaces -> labelSelector ->
namespaceSelector -> name; all must pass and an empty match matches everything.

Offline, a namespaceSelector on an object whose Namespace is not in the scanned set is either `Undecided` (gator
verify's autoreject) or, for scans, judged as if the Namespace had no labels (`AssumedUnlabelled`, which the
scan reports once per namespace). A miss caused only by `excludedNamespaces` is `Excluded`, so that exempt objects
can be listed as not evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Kinds the API server stores without a namespace; everything else is namespaced (kubectl apply puts it into the
# default namespace when the manifest has none).
CLUSTER_SCOPED = frozenset({
    "APIService", "CertificateSigningRequest", "ClusterIssuer", "ClusterRole", "ClusterRoleBinding",
    "ClusterSecretStore", "ClusterExternalSecret", "ComponentStatus", "ConstraintTemplate", "CSIDriver", "CSINode",
    "CustomResourceDefinition", "FlowSchema", "IngressClass", "MutatingWebhookConfiguration", "Namespace", "Node",
    "PersistentVolume", "PodSecurityPolicy", "PriorityClass", "PriorityLevelConfiguration", "RuntimeClass",
    "StorageClass", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration", "VolumeAttachment", "Config", "Assign", "AssignMetadata", "ModifySet",
    "AssignImage", "Provider", "ExpansionTemplate", "SyncSet",
})
_CLUSTER_SCOPED_GROUPS = ("constraints.gatekeeper.sh", "mutations.gatekeeper.sh")


def is_cluster_scoped(api_version: str, kind: str) -> bool:
    group = api_version.rpartition("/")[0]
    if group in _CLUSTER_SCOPED_GROUPS:
        return True
    if kind == "Config" and group != "config.gatekeeper.sh":
        return False
    return kind in CLUSTER_SCOPED


@dataclass(frozen=True, slots=True)
class Undecided:
    """The match depends on a Namespace that is not in the scanned set."""

    reason: str


@dataclass(frozen=True, slots=True)
class Excluded:
    """No match: the object's namespace is in the constraint's `excludedNamespaces` (everything else matched so far)."""

    namespace: str

    def __bool__(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class AssumedUnlabelled:
    """A verdict decided by judging a Namespace that is not in the scanned set as unlabelled."""

    namespace: str
    matched: bool = True

    def __bool__(self) -> bool:
        return self.matched


Verdict = bool | Undecided | Excluded | AssumedUnlabelled  # what `matches` decides


def glob_match(pattern: str, value: str) -> bool:
    """Gatekeeper wildcards: `x*` prefix, `*x` suffix, `*x*` contains, otherwise exact."""
    if pattern.startswith("*") and pattern.endswith("*") and len(pattern) > 1:
        return pattern[1:-1] in value
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    if pattern.startswith("*"):
        return value.endswith(pattern[1:])
    return value == pattern


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, Any]) -> bool:
    """A Kubernetes LabelSelector (matchLabels + matchExpressions); an empty selector matches everything."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


def kinds_match(entries: list[dict[str, Any]], group: str, kind: str) -> bool:
    if not entries:
        return True
    for entry in entries:
        kinds, groups = entry.get("kinds") or [], entry.get("apiGroups") or []
        if (not kinds or "*" in kinds or kind in kinds) and (not groups or "*" in groups or group in groups):
            return True
    return False


def matches(
    match: dict[str, Any],
    obj: dict[str, Any],
    namespaces: dict[str, dict[str, Any]],
    *,
    missing_namespace_unlabelled: bool = False,
) -> Verdict:
    """Whether a constraint's ``match`` selects ``obj``; ``namespaces`` maps a name to its Namespace object."""
    api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
    group = api_version.rpartition("/")[0]
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    name, labels = str(meta.get("name", "")), _labels(obj)
    is_namespace = kind == "Namespace" and group == ""
    namespace = meta.get("namespace")
    if not kinds_match(match.get("kinds") or [], group, kind):
        return False
    scope = match.get("scope")
    if scope == "Cluster" and not (is_namespace or not namespace):
        return False
    if scope == "Namespaced" and (is_namespace or not namespace):
        return False
    checked_ns = name if is_namespace else namespace
    if checked_ns is not None:
        if match.get("namespaces") and not any(glob_match(p, checked_ns) for p in match["namespaces"]):
            return False
        if any(glob_match(p, checked_ns) for p in match.get("excludedNamespaces") or []):
            return Excluded(checked_ns)
    if not selector_matches(match.get("labelSelector"), labels):
        return False
    ns_selector = match.get("namespaceSelector")
    assumed = None
    if ns_selector is not None:
        if is_namespace:
            if not selector_matches(ns_selector, labels):
                return False
        elif namespace:
            ns_obj = namespaces.get(namespace)
            if ns_obj is None and not missing_namespace_unlabelled:
                return Undecided(f"namespaceSelector needs Namespace {namespace!r}, which is not in the scanned set")
            if ns_obj is None:
                assumed = AssumedUnlabelled(str(namespace))
            ns_labels = _labels(ns_obj or {})
            if not selector_matches(ns_selector, {**ns_labels, "kubernetes.io/metadata.name": namespace}):
                return AssumedUnlabelled(str(namespace), matched=False) if assumed else False
    if match.get("name") and not glob_match(match["name"], name):
        return False
    return assumed or True


Placement = tuple[str, str, str | None]  # (API group, kind, metadata.namespace) as `matches` reads them


def placement(obj: dict[str, Any]) -> Placement | None:
    """What `matches` reads of ``obj`` when a match selects by neither labels nor name: its group, kind and
    namespace. None for a core Namespace (judged by its own name and labels) and for a namespace that is not a
    string; two objects with the same placement get the same verdict from such a match."""
    api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
    group = api_version.rpartition("/")[0]
    if kind == "Namespace" and group == "":
        return None
    meta = obj.get("metadata")
    namespace = meta.get("namespace") if isinstance(meta, dict) else None
    if namespace is not None and not isinstance(namespace, str):
        return None
    return group, kind, namespace


def reads_only_placement(match: dict[str, Any]) -> bool:
    """Whether `matches` decides ``match`` on an object's `placement` alone (no labelSelector, no name)."""
    return not (match.get("labelSelector") or match.get("name"))


def _labels(obj: dict[str, Any]) -> dict[str, Any]:
    """An object's labels; a malformed (non-mapping) labels field has none."""
    meta = obj.get("metadata")
    labels = meta.get("labels") if isinstance(meta, dict) else None
    return labels if isinstance(labels, dict) else {}
