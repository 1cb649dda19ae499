"""Drift between Git and the live cluster, and between `policies/` and an installed Gatekeeper.

Git drift compares objects by identity (API group, kind, namespace, name; the version is ignored because the API
server serves every version of a kind). Security-relevant fields are compared after removing the defaults the API
server adds, so an applied manifest shows no drift. Gatekeeper drift compares each installed ConstraintTemplate's
Rego with the one kguard generates from `policies/`, and each constraint's `status.totalViolations` with kguard's
own count.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from scanner.engine.catalogue import Policy, Rule
from scanner.engine.match import is_cluster_scoped
from scanner.model import FieldPath, Finding, IdentityKey, Resource, ResourceId, Severity, fingerprint
from scanner.workloads import WORKLOAD_KINDS, group_of, pod_spec_path

CATEGORY = "drift"
_HELP = "docs/audit.md#drift-against-"  # + git / gatekeeper: the headings' anchors (reports make it absolute)


def _rule(rule_id: str, kind: str, title: str, description: str, severity: Severity, remediation: str) -> Rule:
    against = "gatekeeper" if rule_id.startswith("drift-gatekeeper-") else "git"
    return Rule(id=rule_id, kind=kind, title=title, description=description, severity=severity,
                category=CATEGORY, tags=(CATEGORY, "gitops"), remediation=remediation, help_url=_HELP + against,
                source="scanner/drift.py")


RULES: dict[str, Rule] = {r.id: r for r in (
    _rule("drift-missing-in-git", "KguardDriftMissingInGit", "Object in the cluster but not in Git",
          "An object of a kind and namespace that Git manages exists in the cluster but is declared nowhere in the "
          "audited Git source: it was created by hand or by a tool outside GitOps.", Severity.MEDIUM,
          "Add the object to Git or delete it from the cluster."),
    _rule("drift-missing-in-cluster", "KguardDriftMissingInCluster", "Object in Git but missing from the cluster",
          "An object declared in the audited Git source does not exist in the cluster: the deployment is not in "
          "sync, or the object was deleted by hand.", Severity.LOW,
          "Sync the GitOps deployment, or remove the object from Git."),
    _rule("drift-security-field", "KguardDriftSecurityField", "Security-relevant field differs from Git",
          "A security-relevant field (securityContext, host namespaces, volumes, service account, NetworkPolicy "
          "spec, RBAC rules or subjects) of a live object differs from its Git declaration.", Severity.HIGH,
          "Find out who changed the live object, then re-apply the Git version or change Git through review."),
    _rule("drift-gatekeeper-template", "KguardDriftGatekeeperTemplate",
          "Installed ConstraintTemplate differs from policies/",
          "A Gatekeeper ConstraintTemplate in the cluster implements a kguard policy with different Rego than "
          "the policy library generates: the cluster enforces something else than what was reviewed and tested.",
          Severity.MEDIUM, "Re-apply the generated templates (`kguard gatekeeper build`) to the cluster."),
    _rule("drift-gatekeeper-violations", "KguardDriftGatekeeperViolations",
          "Gatekeeper's audit count differs from kguard's",
          "A Gatekeeper constraint's status.totalViolations differs from the number of violations kguard finds "
          "for the same constraint on the same objects: one of the two engines sees other objects, another "
          "template version, or its audit is stale.", Severity.LOW,
          "Check the Gatekeeper audit interval, sync configuration and template version."),
)}


# Objects every cluster creates by itself; never "missing in Git".
_SYSTEM_NAMES = {("", "ServiceAccount"): {"default"}, ("", "ConfigMap"): {"kube-root-ca.crt"},
                 ("", "Namespace"): {"default", "kube-system", "kube-public", "kube-node-lease"}}
_SECURITY_KINDS = (*(w.kind for w in WORKLOAD_KINDS), "NetworkPolicy", "Role", "ClusterRole", "RoleBinding",
                   "ClusterRoleBinding")
_RBAC_GROUP = "rbac.authorization.k8s.io"


@dataclass(frozen=True, slots=True)
class Difference:
    field_path: FieldPath
    what: str
    git: Any
    cluster: Any


# --- normalisation: what counts, with the API server's defaults removed ----------------------------------------


def _clean(value: Any) -> Any:
    """Drop None, "", {} and [] recursively."""
    if isinstance(value, dict):
        out = {k: _clean(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, "", {}, [])}
    if isinstance(value, list):
        return [_clean(v) for v in value if _clean(v) not in (None, "", {}, [])]
    return value


def _volume(volume: dict[str, Any]) -> dict[str, Any]:
    vol = json.loads(json.dumps(volume))
    for source in ("configMap", "secret", "projected", "downwardAPI"):
        if isinstance(vol.get(source), dict) and vol[source].get("defaultMode") == 420:
            del vol[source]["defaultMode"]
    for item in (vol.get("downwardAPI") or {}).get("items") or []:
        if (item.get("fieldRef") or {}).get("apiVersion") == "v1":
            del item["fieldRef"]["apiVersion"]
    for src in (vol.get("projected") or {}).get("sources") or []:
        token = src.get("serviceAccountToken")
        if isinstance(token, dict) and token.get("expirationSeconds") == 3600:
            del token["expirationSeconds"]
        for item in (src.get("downwardAPI") or {}).get("items") or []:
            if (item.get("fieldRef") or {}).get("apiVersion") == "v1":
                del item["fieldRef"]["apiVersion"]
    return _clean(vol)


def _get(obj: Any, path: FieldPath) -> Any:
    for part in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _pod_fields(spec: dict[str, Any], prefix: FieldPath) -> dict[FieldPath, tuple[str, Any]]:
    fields: dict[FieldPath, tuple[str, Any]] = {}
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        fields[(*prefix, flag)] = (flag, bool(spec.get(flag)))
    fields[(*prefix, "serviceAccountName")] = (
        "serviceAccountName", spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")
    fields[(*prefix, "automountServiceAccountToken")] = (
        "automountServiceAccountToken", spec.get("automountServiceAccountToken"))
    fields[(*prefix, "securityContext")] = ("pod securityContext", _clean(spec.get("securityContext") or {}))
    volumes = {str(v.get("name")): _volume(v) for v in spec.get("volumes") or [] if isinstance(v, dict)}
    fields[(*prefix, "volumes")] = ("volumes", dict(sorted(volumes.items())))
    for group in ("initContainers", "containers", "ephemeralContainers"):
        for index, container in enumerate(spec.get(group) or []):
            if not isinstance(container, dict):
                continue
            name = container.get("name")
            fields[(*prefix, group, index, "securityContext")] = (
                f"securityContext of {group[:-1]} {name}", _clean(container.get("securityContext") or {}))
    return fields


def _netpol(spec: dict[str, Any]) -> dict[str, Any]:
    spec = json.loads(json.dumps(spec or {}))
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]
    for direction in ("ingress", "egress"):
        for rule in spec.get(direction) or []:
            for port in rule.get("ports") or []:
                port.setdefault("protocol", "TCP")
    return _clean(spec)


def _rules(rules: list[Any]) -> list[str]:
    normal = []
    for rule in rules or []:
        rule = _clean(rule)
        normal.append(json.dumps({k: sorted(v) if isinstance(v, list) else v for k, v in rule.items()},
                                 sort_keys=True))
    return sorted(normal)


def _subjects(subjects: list[Any]) -> list[str]:
    normal = []
    for subject in subjects or []:
        subject = dict(subject)
        if subject.get("kind") in ("User", "Group"):
            subject.setdefault("apiGroup", _RBAC_GROUP)
        elif subject.get("kind") == "ServiceAccount":
            subject["apiGroup"] = subject.get("apiGroup") or ""
        normal.append(json.dumps(_clean(subject), sort_keys=True))
    return sorted(normal)


def security_fields(obj: dict[str, Any]) -> dict[FieldPath, tuple[str, Any]]:
    """Field path -> (description, normalised value) of the security-relevant fields of ``obj``."""
    kind = str(obj.get("kind", ""))
    prefix = pod_spec_path(group_of(str(obj.get("apiVersion", ""))), kind)
    if prefix is not None:
        spec = _get(obj, prefix)
        return _pod_fields(spec if isinstance(spec, dict) else {}, prefix)
    if kind == "NetworkPolicy":
        return {("spec",): ("NetworkPolicy spec", _netpol(obj.get("spec") or {}))}
    if kind in ("Role", "ClusterRole"):
        if obj.get("aggregationRule"):  # rules are filled in by the aggregation controller
            return {("aggregationRule",): ("aggregationRule", _clean(obj["aggregationRule"]))}
        return {("rules",): ("RBAC rules", _rules(obj.get("rules") or []))}
    if kind in ("RoleBinding", "ClusterRoleBinding"):
        return {("roleRef",): ("roleRef", _clean(dict(obj.get("roleRef") or {}))),
                ("subjects",): ("subjects", _subjects(obj.get("subjects") or []))}
    return {}


def _container_key(path: FieldPath, obj: dict[str, Any]) -> FieldPath:
    """Containers are compared by name, not position."""
    for i, part in enumerate(path):
        if part in ("initContainers", "containers", "ephemeralContainers") and i + 1 < len(path):
            items = _get(obj, path[: i + 1]) or []
            index = path[i + 1]
            name = items[index].get("name") if isinstance(index, int) and index < len(items) else index
            return (*path[:i + 1], str(name), *path[i + 2:])
    return path


def security_differences(git: dict[str, Any], live: dict[str, Any]) -> list[Difference]:
    """Security-relevant differences, located at the Git field path (containers matched by name)."""
    git_fields = {_container_key(p, git): (p, v) for p, v in security_fields(git).items()}
    live_fields = {_container_key(p, live): (p, v) for p, v in security_fields(live).items()}
    diffs = []
    for name in sorted(git_fields.keys() | live_fields.keys(), key=lambda p: json.dumps(p, default=str)):
        git_path, (what, git_value) = git_fields.get(name, (None, (None, None)))
        live_path, (live_what, live_value) = live_fields.get(name, (None, (None, None)))
        if git_value == live_value:
            continue
        diffs.append(Difference(field_path=git_path or live_path or (), what=what or live_what,
                                git=git_value, cluster=live_value))
    return diffs


# --- findings ------------------------------------------------------------------------------------------------



def drift_finding(rule_id: str, res: Resource, message: str, path: FieldPath = (),
                  ident: ResourceId | None = None, located: Resource | None = None) -> Finding:
    rule = RULES[rule_id]
    ident = ident or res.identity
    return Finding(rule_id=rule.id, severity=rule.severity, category=rule.category, tags=rule.tags, message=message,
                   resource=ident, location=located or res.location(path), field_path=path,
                   remediation=rule.remediation, fingerprint=fingerprint(rule.id, ident, path, message))


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _managed_by_cluster(res: Resource) -> bool:
    """Objects the cluster makes itself: controller-owned, built-in defaults, `system:` RBAC."""
    if res.metadata.get("ownerReferences"):
        return True
    group, kind = res.key[:2]
    if res.name in _SYSTEM_NAMES.get((group, kind), ()):
        return True
    if res.name.startswith("system:") or (res.name.startswith("kube-") and kind == "Namespace"):
        return True
    labels = res.metadata.get("labels") or {}
    return labels.get("kubernetes.io/bootstrapping") == "rbac-defaults"


def git_drift(cluster: Iterable[Resource], git: Iterable[Resource], *, readable: set[tuple[str, str]],
              in_scope: Callable[[str], bool] = lambda _ns: True, default_namespace: str = "default",
              not_served: set[tuple[str, str]] = frozenset()) -> list[Finding]:
    """Missing in Git, missing in the cluster, and security-field differences.

    ``readable``: (group, kind) the audit listed without a gap; only those, and kinds the cluster does not serve
    at all (``not_served``), can be "missing in the cluster".
    ``in_scope``: whether the audit covered a namespace (--namespace/--exclude-namespace); Git objects in other
    namespaces are not compared.
    Cluster objects count as "missing in Git" only for kinds Git declares, in namespaces Git uses.
    """
    git_index: dict[IdentityKey, Resource] = {}
    for res in git:
        ns = res.namespace or (None if is_cluster_scoped(res.api_version, res.kind) else default_namespace)
        git_index[(res.api_version.rpartition("/")[0], res.kind, ns or "", res.name)] = res
    live_index = {r.key: r for r in cluster}
    git_kinds = {k[:2] for k in git_index}
    git_namespaces = {k[2] for k in git_index if k[2]}
    findings: list[Finding] = []
    for k, res in sorted(live_index.items()):
        if k in git_index or k[:2] not in git_kinds or _managed_by_cluster(res):
            continue
        if k[2] and k[2] not in git_namespaces:
            continue
        findings.append(drift_finding("drift-missing-in-git", res,
                                      f"{res.identity.display()} exists in the cluster but not in Git."))
    for k, res in sorted(git_index.items()):
        ident = ResourceId(api_version=res.api_version, kind=res.kind, name=res.name, namespace=k[2] or None)
        live = live_index.get(k)
        if live is None:
            if (k[:2] in readable or k[:2] in not_served) and (not k[2] or in_scope(k[2])):
                why = f" (the cluster does not serve {res.kind} {res.api_version})" if k[:2] in not_served else ""
                findings.append(drift_finding("drift-missing-in-cluster", res,
                                              f"{ident.display()} is declared in Git but missing from the "
                                              f"cluster{why}.", ident=ident))
            continue
        if res.kind not in _SECURITY_KINDS:
            continue
        for diff in security_differences(res.obj, live.obj):
            message = (f"{ident.display()}: {diff.what} differs from Git (Git: {_short(diff.git)}, "
                       f"cluster: {_short(diff.cluster)}).")
            findings.append(drift_finding("drift-security-field", res, message, diff.field_path, ident=ident))
    return findings


def template_code(obj: dict[str, Any]) -> tuple[str, tuple[str, ...], str] | None:
    """(Rego, libs, Rego version) of a ConstraintTemplate, whitespace-trimmed; None without Rego."""
    from scanner.engine.templates import parse_template

    try:
        template = parse_template(obj)
    except ValueError:
        return None
    if template.rego is None:
        return None
    return template.rego.strip(), tuple(lib.strip() for lib in template.libs), template.rego_version


def gatekeeper_template_drift(installed: Iterable[Resource], policies: Iterable[Policy]) -> list[Finding]:
    """Installed templates implementing a kguard policy (same kind) whose code differs from `policies/`."""
    by_kind = {p.rule.kind: p for p in policies}
    findings = []
    for res in installed:
        kind = ((((res.obj.get("spec") or {}).get("crd") or {}).get("spec") or {}).get("names") or {}).get("kind")
        policy = by_kind.get(str(kind))
        if policy is None:
            continue
        live, wanted = template_code(res.obj), template_code(policy.to_template())
        if live == wanted:
            continue
        part = "its Rego" if live is None or wanted is None or live[0] != wanted[0] else (
            "its libraries" if live[1] != wanted[1] else "its Rego version")
        message = (f"ConstraintTemplate {res.name} (rule {policy.rule.id}) differs from {policy.rule.source}: "
                   f"{part} is not what `policies/` generates.")
        findings.append(drift_finding("drift-gatekeeper-template", res, message, ("spec", "targets")))
    return findings


def gatekeeper_count_drift(constraints: Iterable[Resource], counts: dict[str, int]) -> list[Finding]:
    """Constraints whose `status.totalViolations` differs from kguard's count (`counts[Kind/name]`)."""
    findings = []
    for res in constraints:
        total = (res.obj.get("status") or {}).get("totalViolations")
        label = f"{res.kind}/{res.name}"
        if not isinstance(total, int) or label not in counts or counts[label] == total:
            continue
        message = (f"Constraint {label}: Gatekeeper's audit reports {total} violation(s) "
                   f"(status.totalViolations), kguard finds {counts[label]}.")
        findings.append(drift_finding("drift-gatekeeper-violations", res, message, ("status", "totalViolations")))
    return findings
