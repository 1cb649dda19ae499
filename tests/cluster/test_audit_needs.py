"""A live audit judges with exactly what it could read (issue 12, items 8 and 9), on the real control plane.

* Whole-graph analyses (reachability, RBAC escalation) run only when the kinds they need were read in full;
  otherwise each of their rules is listed as not evaluated, never reported as a gap it could not see.
* Every Rego rule is evaluated whenever what it declares it needs (`metadata.gatekeeper.sh/requires-sync-data`,
  the catalogue's `sync:`) was read: a gap in an unrelated kind does not silence rules that need only the object.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.cluster.audit import AuditOptions, run_audit, template_needs, without_blind_templates
from scanner.cluster.read import ReadOptions
from scanner.engine.templates import Constraint, Template, TemplateSet, parse_sync_requirements, parse_template
from scanner.scan import ScanOptions
from tests.cluster.conftest import Kube, deployment
from tests.fixtures.controlplane import api_request, write_kubeconfig

pytestmark = pytest.mark.cluster
NETPOL = ("networking.k8s.io", "NetworkPolicy")
# every API group kguard's default policies and analyses read, except networking.k8s.io
READABLE_GROUPS = ["", "apps", "batch", "extensions", "rbac.authorization.k8s.io", "argoproj.io",
                   "templates.gatekeeper.sh", "constraints.gatekeeper.sh", "apiextensions.k8s.io"]


def _default_deny(ns: str) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny", "namespace": ns},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}


def _identity_without_networkpolicies(kube: Kube, tmp_path: Path) -> Path:
    """A ServiceAccount (token from the real TokenRequest API) that may read everything but NetworkPolicies."""
    return _identity(kube, tmp_path, "no-netpol",
                     [{"apiGroups": READABLE_GROUPS, "resources": ["*"], "verbs": ["get", "list", "watch"]}])


def _identity(kube: Kube, tmp_path: Path, label: str, rules: list[dict]) -> Path:
    """A ServiceAccount bound to a ClusterRole with ``rules``; its kubeconfig (token from TokenRequest)."""
    ns = kube.namespace("reader")
    name = f"kguard-{label}-{ns}"
    kube.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name},
                 "rules": rules})
    kube.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "auditor", "namespace": ns}})
    kube.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                 "metadata": {"name": name},
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
                 "subjects": [{"kind": "ServiceAccount", "name": "auditor", "namespace": ns}]},
                path="/apis/rbac.authorization.k8s.io/v1/clusterrolebindings")
    status, token = api_request(kube.plane.server, kube.plane.ca_file, kube.plane.admin_token, "POST",
                                f"/api/v1/namespaces/{ns}/serviceaccounts/auditor/token",
                                {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}})
    assert status == 201, token
    return write_kubeconfig(tmp_path / f"{label}.kubeconfig", kube.plane.server, kube.plane.ca_file,
                            label, token["status"]["token"])


def _not_evaluated(audit) -> dict[str, str]:
    return {entry.reason.partition(":")[0]: entry.reason for entry in audit.result.not_evaluated
            if ": not evaluated" in entry.reason}


def test_analyses_do_not_guess_about_networkpolicies_they_could_not_read(kube: Kube) -> None:
    """Item 8: every namespace has a default-deny policy; the auditor cannot list NetworkPolicies."""
    namespaces = [kube.namespace("deny", {"environment": env}) for env in ("staging", "production")]
    for ns in namespaces:
        kube.create(_default_deny(ns))
        kube.create(deployment("web", ns))
    read = ReadOptions(namespaces=namespaces)

    blind = run_audit(AuditOptions(kubeconfig=str(kube.plane.kubeconfig_auditor), read=read), ScanOptions())

    assert any(g["kind"] == "NetworkPolicy" and g["status"] == 403 for g in blind.result.coverage)
    assert not [f for f in blind.result.findings if f.rule_id.startswith("seg-")], \
        [(f.rule_id, f.message) for f in blind.result.findings if f.rule_id.startswith("seg-")]
    skipped = _not_evaluated(blind)
    assert "NetworkPolicy.networking.k8s.io" in skipped["seg-reachability-cross-environment"]
    assert "the analysis needs" in skipped["seg-reachability-cross-environment"]
    assert "seg-workload-ingress-isolation" in skipped  # the Rego rule that needs them, as before
    assert "rbac-escalation-pod-create" in skipped  # RBAC kinds are forbidden too: escalation not analysed
    assert "seg-reachability-cross-environment" in {r.id for r in blind.result.rules}

    admin = run_audit(AuditOptions(kubeconfig=str(kube.plane.kubeconfig_admin), read=read), ScanOptions())
    assert admin.result.coverage == []
    assert not [r for r in _not_evaluated(admin) if r.startswith(("seg-", "rbac-"))]
    # with everything read, the same cluster really is isolated: the analyses ran and found no gap
    assert not [f for f in admin.result.findings if f.rule_id.startswith("seg-")]


def test_rules_that_need_only_the_object_run_when_networkpolicies_are_unreadable(kube: Kube, tmp_path: Path) -> None:
    """Item 9: read access to everything except NetworkPolicies still judges a wildcard ClusterRole."""
    kubeconfig = _identity_without_networkpolicies(kube, tmp_path)
    ns = kube.namespace("partial")
    kube.create(deployment("web", ns))
    role = f"wild-{ns}"
    kube.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": role},
                 "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["*"]}]})

    audit = run_audit(AuditOptions(kubeconfig=str(kubeconfig), read=ReadOptions(namespaces=[ns])), ScanOptions())

    assert {(g["group"], g["kind"]) for g in audit.result.coverage} == {NETPOL}, audit.result.coverage
    on_role = {f.rule_id for f in audit.result.findings if f.resource.name == role}
    assert {"rbac-wildcard-permissions", "rbac-secrets-read"} <= on_role, on_role
    skipped = _not_evaluated(audit)
    for needs_netpol in ("seg-workload-ingress-isolation", "seg-workload-egress-isolation",
                         "seg-namespace-default-deny-ingress", "seg-reachability-cross-environment"):
        assert needs_netpol in skipped and "NetworkPolicy" in skipped[needs_netpol], sorted(skipped)
    for judged in ("rbac-wildcard-permissions", "rbac-secrets-read", "rbac-escalation-verbs", "seg-allow-all-ingress",
                   "rbac-broad-role-binding", "rbac-escalation-pod-create", "pss-privileged"):
        assert judged not in skipped, skipped[judged]
    # the Pod Security rules judged the Deployment, the RBAC analysis ran (its rules are among the report's)
    assert {"pss-privileged", "rbac-escalation-pod-create"} <= {r.id for r in audit.result.rules}


def test_unreadable_namespaces_blind_namespace_selectors_but_not_rules_on_the_object(kube: Kube,
                                                                                     tmp_path: Path) -> None:
    """Pod Security constraints select namespaces by their enforce label: without Namespaces that is a guess."""
    core = ["pods", "services", "serviceaccounts", "configmaps", "replicationcontrollers", "podtemplates"]
    kubeconfig = _identity(kube, tmp_path, "no-namespaces", [
        {"apiGroups": [""], "resources": core, "verbs": ["get", "list", "watch"]},
        {"apiGroups": [g for g in READABLE_GROUPS if g], "resources": ["*"], "verbs": ["get", "list", "watch"]}])
    ns = kube.namespace("hidden-labels", {"pod-security.kubernetes.io/enforce": "privileged"})
    kube.create(deployment("web", ns, privileged=True))
    role = f"wild-{ns}"
    kube.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": role},
                 "rules": [{"apiGroups": ["*"], "resources": ["pods"], "verbs": ["get"]}]})

    audit = run_audit(AuditOptions(kubeconfig=str(kubeconfig), read=ReadOptions(namespaces=[ns])),
                      ScanOptions(select=["pss-privileged", "rbac-wildcard-permissions", "seg-reachability-*"]))

    assert any(g["kind"] == "Namespace" and g["status"] == 403 for g in audit.result.coverage)
    judged = {f.rule_id for f in audit.result.findings if not f.rule_id.startswith("drift-")}  # other tests' CRDs
    assert judged == {"rbac-wildcard-permissions"}  # no guessed PSS finding
    skipped = _not_evaluated(audit)
    assert "Namespace" in skipped["pss-privileged"] and "Namespace" in skipped["seg-reachability-cross-environment"]


def _template(kind: str, rego: str, annotations: dict[str, str] | None = None) -> Template:
    return parse_template({"apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
                           "metadata": {"name": kind.lower(), "annotations": annotations or {}},
                           "spec": {"crd": {"spec": {"names": {"kind": kind}}}, "targets": [
                               {"target": "admission.k8s.gatekeeper.sh", "rego": f"package x\n{rego}\n"}]}},
                          source=f"{kind}.yaml")


def test_requires_sync_data_is_read_with_gatekeepers_meaning() -> None:
    """Requirements all needed; the clauses of one requirement are alternatives (Ingress in either group)."""
    text = ('[[{"groups": ["extensions"], "versions": ["v1beta1"], "kinds": ["Ingress"]},'
            ' {"groups": ["networking.k8s.io"], "versions": ["v1"], "kinds": ["Ingress"]}],'
            ' [{"groups": [""], "versions": ["v1"], "kinds": ["Namespace"]}]]')
    assert parse_sync_requirements(text) == ((("extensions", "Ingress"), ("networking.k8s.io", "Ingress")),
                                             (("", "Namespace"),))
    assert parse_sync_requirements(None) is None
    assert parse_sync_requirements("not json") is None  # unreadable: undeclared, so blind to any gap


def test_each_template_is_blind_only_to_what_it_needs() -> None:
    annotation = {"metadata.gatekeeper.sh/requires-sync-data":
                  '[[{"groups": ["extensions"], "kinds": ["Ingress"]}, {"groups": ["networking.k8s.io"], '
                  '"kinds": ["Ingress"]}]]'}
    templates = TemplateSet(templates={
        "Unique": _template("Unique", "x := data.inventory.namespace", annotation),
        "Undeclared": _template("Undeclared", "x := data.inventory.cluster"),
        "Own": _template("Own", "x := input.review.object"),
        "Selecting": _template("Selecting", "x := input.review.object"),
    }, constraints=[Constraint(kind=k, name=k.lower()) for k in ("Unique", "Undeclared", "Own")]
        + [Constraint(kind="Selecting", name="s", match={"namespaceSelector": {"matchLabels": {"a": "b"}}})])
    assert template_needs(templates.templates["Own"], {}) == ()
    assert template_needs(templates.templates["Undeclared"], {}) is None

    kept, skipped = without_blind_templates(templates, {}, {("extensions", "Ingress")})
    assert sorted(kept.templates) == ["Own", "Selecting", "Unique"]  # networking.k8s.io Ingress still meets it
    assert [s.path for s in skipped] == ["Undeclared.yaml"]

    kept, skipped = without_blind_templates(templates, {}, {("extensions", "Ingress"), ("networking.k8s.io",
                                                                                       "Ingress")})
    assert sorted(kept.templates) == ["Own", "Selecting"]
    assert "Ingress.extensions, Ingress.networking.k8s.io" in skipped[1].reason

    kept, skipped = without_blind_templates(templates, {}, {("", "Namespace")})
    assert sorted(kept.templates) == ["Own", "Unique"]  # a namespaceSelector needs the Namespaces' labels
    assert [s.path for s in skipped] == ["Selecting.yaml", "Undeclared.yaml"]


def test_generated_templates_declare_every_sync_entry_as_its_own_requirement() -> None:
    """gatekeeper/ says what the catalogue says: all `sync:` kinds needed (not alternatives), none when no `sync:`."""
    from scanner.engine.catalogue import default_policy_dir, load_catalogue
    from scanner.engine.templates import from_policy

    referential = 0
    for policy in load_catalogue(default_policy_dir()):
        declared = tuple(((str(s.get("group", "")), str(s["kind"])),) for s in policy.sync)
        assert parse_template(policy.to_template()).requires_sync == (declared or None), policy.rule.id
        assert from_policy(policy)[0].requires_sync == declared, policy.rule.id
        referential += bool(declared)
    assert referential >= 8


def test_the_inventory_holds_what_the_templates_declare_and_referential_rules_still_see_it(kube: Kube) -> None:
    """data.inventory is synced as Gatekeeper would (declared kinds + Namespaces), yet referential rules still find
    what they look up: a binding of a wildcard role (RBAC kinds) and a workload no NetworkPolicy selects."""
    from scanner.engine.review import inventory_kinds, synced
    from scanner.model import Resource

    ns = kube.namespace("synced")
    kube.create(deployment("web", ns))
    role = f"everything-{ns}"
    kube.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": role},
                 "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]})
    kube.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                 "metadata": {"name": "all", "namespace": ns},
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                 "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}]})

    audit = run_audit(AuditOptions(kubeconfig=str(kube.plane.kubeconfig_admin), read=ReadOptions(namespaces=[ns])),
                      ScanOptions(select=["rbac-broad-role-binding", "seg-workload-ingress-isolation"]))
    judged = {(f.rule_id, f.resource.kind) for f in audit.result.findings if not f.rule_id.startswith("drift-")}
    assert judged == {("rbac-broad-role-binding", "RoleBinding"), ("seg-workload-ingress-isolation", "Deployment")}

    def res(api_version: str, kind: str) -> Resource:
        return Resource(obj={"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}}, path="p",
                        positions={})

    objects = [res("v1", "Namespace"), res("v1", "Pod"), res("apps/v1", "ReplicaSet"),
               res("networking.k8s.io/v1", "NetworkPolicy")]
    declared = TemplateSet(templates={"Seg": _template("Seg", "x := data.inventory.namespace", {
        "metadata.gatekeeper.sh/requires-sync-data": '[[{"groups": ["networking.k8s.io"], "kinds": ["NetworkPolicy"]}]]'
    }), "Own": _template("Own", "x := input.review.object")})
    assert [r.kind for r in synced(objects, inventory_kinds(declared.templates.values()))] == ["Namespace", "NetworkPolicy"]
    declared.templates["Undeclared"] = _template("Undeclared", "x := data.inventory.cluster")
    assert synced(objects, inventory_kinds(declared.templates.values())) == objects  # may read anything: all stay
