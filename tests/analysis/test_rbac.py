"""RBAC escalation analysis on hand-built RBAC sets (real YAML loader, positions included)."""

from __future__ import annotations

import json
import textwrap

import pytest

from scanner.analysis.rbac import (
    BIND_ESCALATE_IMPERSONATE,
    POD_CREATE,
    TOKEN,
    Subject,
    analyse,
    build_graph,
)
from scanner.load.files import load_text
from scanner.model import Resource, Severity
from tests.fixtures.controlplane import control_plane  # noqa: F401 - fixture (live-cluster test below)


def sa(name: str, ns: str) -> str:
    return f"apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: {name}, namespace: {ns}}}\n"


def role(name: str, rules: str, ns: str | None = None, labels: str = "", extra: str = "") -> str:
    kind = "Role" if ns else "ClusterRole"
    meta = f"name: {name}" + (f", namespace: {ns}" if ns else "") + (f", labels: {{{labels}}}" if labels else "")
    body = f"rules:\n{textwrap.indent(textwrap.dedent(rules).strip(), '  ')}\n" if rules else ""
    return f"apiVersion: rbac.authorization.k8s.io/v1\nkind: {kind}\nmetadata: {{{meta}}}\n{extra}{body}"


def binding(name: str, role_kind: str, role_name: str, subjects: list[str], ns: str | None = None) -> str:
    kind = "RoleBinding" if ns else "ClusterRoleBinding"
    meta = f"name: {name}" + (f", namespace: {ns}" if ns else "")
    subs = "".join(f"  - {s}\n" for s in subjects)
    return (f"apiVersion: rbac.authorization.k8s.io/v1\nkind: {kind}\nmetadata: {{{meta}}}\n"
            f"roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: {role_kind}, name: {role_name}}}\n"
            f"subjects:\n{subs}")


def run(*docs: str, path: str = "rbac.yaml"):
    loaded = load_text("---\n".join(docs), path)
    assert not loaded.errors
    return analyse(loaded.resources)


POD_CREATOR = role("deployer", """
- apiGroups: [""]
  resources: [pods]
  verbs: [create]
""", ns="a")
SECRET_READER = role("secret-reader", """
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list]
""")
X_DEPLOYS = binding("deployer", "Role", "deployer", ["{kind: ServiceAccount, name: x}"], ns="a")
CI_READS_SECRETS = binding("yy", "ClusterRole", "secret-reader",
                           ["{kind: ServiceAccount, name: ci, namespace: a}"])


def test_pod_create_reaches_powerful_service_account():
    findings, rules = run(sa("x", "a"), sa("ci", "a"), POD_CREATOR, X_DEPLOYS, SECRET_READER, CI_READS_SECRETS)
    assert [f.rule_id for f in findings] == [POD_CREATE]
    finding = findings[0]
    assert finding.message == ("ServiceAccount a/x can create pods in a and so act as ServiceAccount a/ci, which "
                               "has read access to Secrets cluster-wide via ClusterRoleBinding yy")
    assert finding.severity == Severity.HIGH
    assert finding.resource.kind == "RoleBinding" and finding.resource.name == "deployer"
    assert finding.field_path == ("subjects", 0)
    assert {r.id for r in rules} == {POD_CREATE, TOKEN, BIND_ESCALATE_IMPERSONATE}


def test_location_is_the_binding_subject_line_and_related_point_at_rule_and_target_binding():
    docs = [sa("x", "a"), sa("ci", "a"), POD_CREATOR, X_DEPLOYS, SECRET_READER, CI_READS_SECRETS]
    text = "---\n".join(docs)
    lines = text.splitlines()
    subject_line = lines.index("  - {kind: ServiceAccount, name: x}") + 1
    target_line = lines.index("  - {kind: ServiceAccount, name: ci, namespace: a}") + 1
    rule_line = lines.index("    resources: [pods]")  # 0-based index of this line = 1-based line of the rule
    (finding,), _ = run(*docs, path="rbac/app.yaml")
    assert (finding.location.path, finding.location.line) == ("rbac/app.yaml", subject_line)
    role_rel, target_rel = finding.related
    assert role_rel.resource.kind == "Role" and role_rel.location.line == rule_line
    assert role_rel.message == "rule 0 grants create on pods"
    assert target_rel.message == "gives ServiceAccount a/ci read access to Secrets cluster-wide"
    assert target_rel.resource.name == "yy" and target_rel.location.line == target_line


def test_no_escalation_when_target_is_not_stronger():
    weak = role("pod-reader", """
    - apiGroups: [""]
      resources: [pods]
      verbs: [get, list]
    """)
    findings, _ = run(sa("x", "a"), sa("ci", "a"), POD_CREATOR, X_DEPLOYS, weak,
                      binding("yy", "ClusterRole", "pod-reader", ["{kind: ServiceAccount, name: ci, namespace: a}"]))
    assert findings == []


def test_no_escalation_when_subject_already_holds_the_permission():
    findings, _ = run(sa("x", "a"), sa("ci", "a"), POD_CREATOR, X_DEPLOYS, SECRET_READER, CI_READS_SECRETS,
                      binding("x-reads", "ClusterRole", "secret-reader",
                              ["{kind: ServiceAccount, name: x, namespace: a}"]))
    assert findings == []


def test_secrets_in_own_namespace_do_not_count_for_a_pod_creator():
    reader = role("reader", """
    - apiGroups: [""]
      resources: [secrets]
      verbs: [get]
    """, ns="a")
    findings, _ = run(sa("x", "a"), sa("ci", "a"), POD_CREATOR, X_DEPLOYS, reader,
                      binding("ci-reads", "Role", "reader", ["{kind: ServiceAccount, name: ci}"], ns="a"))
    assert findings == []


def test_workload_controller_and_default_service_account_and_cluster_admin():
    deployments = role("deployments", """
    - apiGroups: [apps]
      resources: [deployments]
      verbs: [create, update]
    """, ns="b")
    findings, _ = run(deployments,
                      binding("dev", "Role", "deployments", ["{kind: User, name: alice}"], ns="b"),
                      binding("oops", "ClusterRole", "cluster-admin",
                              ["{kind: ServiceAccount, name: default, namespace: b}"]))
    assert len(findings) == 1
    assert findings[0].message.startswith("User alice can create deployments in b and so act as ServiceAccount "
                                          "b/default, which has every permission (cluster-admin equivalent) "
                                          "cluster-wide via ClusterRoleBinding oops")
    assert findings[0].severity == Severity.CRITICAL
    assert findings[0].related[1].resource.name == "oops"
    # built-in roles are known by name: edit creates pods (the enabling rule has no location in the set)
    findings, _ = run(binding("dev", "ClusterRole", "edit", ["{kind: User, name: eve}"], ns="b"),
                      binding("oops", "ClusterRole", "cluster-admin",
                              ["{kind: ServiceAccount, name: default, namespace: b}"]))
    assert [f.message.split(",")[0] for f in findings] == [
        "User eve can impersonate ServiceAccount b/default",
        "User eve can create pods in b and so act as ServiceAccount b/default",
        "User eve can create tokens in b for ServiceAccount b/default"]
    assert findings[1].related[0].location is None and findings[0].related[0].resource.name == "edit"


def test_aggregated_cluster_role_is_resolved():
    aggregated = role("monitoring", "", extra=(
        "aggregationRule:\n  clusterRoleSelectors:\n  - matchLabels: {aggregate-to-monitoring: 'true'}\n"))
    part = role("secret-part", """
    - apiGroups: [""]
      resources: [secrets]
      verbs: [list]
    """, labels="aggregate-to-monitoring: 'true'")
    unrelated = role("unrelated", """
    - apiGroups: ["*"]
      resources: ["*"]
      verbs: ["*"]
    """, labels="other: 'true'")
    findings, _ = run(sa("x", "a"), sa("mon", "a"), POD_CREATOR, X_DEPLOYS, aggregated, part, unrelated,
                      binding("mon", "ClusterRole", "monitoring", ["{kind: ServiceAccount, name: mon, namespace: a}"]))
    assert len(findings) == 1
    assert "ServiceAccount a/mon, which has read access to Secrets cluster-wide" in findings[0].message
    graph = build_graph(load_text("---\n".join([aggregated, part, unrelated]), "r.yaml").resources)
    names = {r.role.name for r in graph.roles[("ClusterRole", "", "monitoring")] if r.role is not None}
    assert names == {"secret-part"}


def test_group_subjects_grant_to_service_accounts_and_are_reported_themselves():
    # every ServiceAccount of namespace a may create pods (group binding); ci is powerful through its group
    findings, _ = run(sa("ci", "a"), POD_CREATOR,
                      binding("all-sa", "Role", "deployer", ["{kind: Group, name: 'system:serviceaccounts:a'}"],
                              ns="a"),
                      SECRET_READER, CI_READS_SECRETS)
    messages = sorted(f.message for f in findings)
    assert messages == ["Group system:serviceaccounts:a can create pods in a and so act as ServiceAccount a/ci, "
                        "which has read access to Secrets cluster-wide via ClusterRoleBinding yy"]


def test_group_membership_counts_for_the_target_holdings():
    findings, _ = run(sa("x", "a"), POD_CREATOR, X_DEPLOYS, SECRET_READER,
                      binding("everyone-in-b", "ClusterRole", "secret-reader",
                              ["{kind: Group, name: 'system:serviceaccounts:b'}"]),
                      sa("ci", "b"))
    assert findings == []  # b is out of x's reach
    findings, _ = run(sa("x", "a"), POD_CREATOR, X_DEPLOYS, SECRET_READER,
                      binding("all-sa", "ClusterRole", "secret-reader", ["{kind: Group, name: 'system:serviceaccounts'}"]))
    assert findings == []  # x is in system:serviceaccounts itself: nothing to gain


def test_token_creation_for_a_stronger_service_account_respects_resource_names():
    tokens = role("tokens", """
    - apiGroups: [""]
      resources: [serviceaccounts/token]
      verbs: [create]
      resourceNames: [ci]
    """, ns="a")
    findings, _ = run(sa("x", "a"), sa("ci", "a"), sa("other", "a"), tokens,
                      binding("tokens", "Role", "tokens", ["{kind: ServiceAccount, name: x}"], ns="a"),
                      SECRET_READER, CI_READS_SECRETS,
                      binding("z", "ClusterRole", "secret-reader", ["{kind: ServiceAccount, name: other, namespace: a}"]))
    assert [(f.rule_id, f.message) for f in findings] == [
        (TOKEN, "ServiceAccount a/x can create tokens in a for ServiceAccount a/ci, which has read access to "
                "Secrets cluster-wide via ClusterRoleBinding yy")]


def test_impersonate_groups_reaches_system_masters():
    impersonator = role("impersonator", """
    - apiGroups: [""]
      resources: [groups]
      verbs: [impersonate]
    """)
    findings, _ = run(impersonator, binding("imp", "ClusterRole", "impersonator", ["{kind: User, name: bob}"]))
    assert len(findings) == 1
    assert findings[0].rule_id == BIND_ESCALATE_IMPERSONATE
    assert findings[0].severity == Severity.CRITICAL
    assert findings[0].message == ("User bob can impersonate Group system:masters, which has every permission "
                                   "(cluster-admin equivalent) cluster-wide (system:masters bypasses RBAC)")


def test_impersonate_in_a_role_binding_is_limited_to_service_accounts_of_the_namespace():
    impersonator = role("impersonator", """
    - apiGroups: [""]
      resources: [users, groups, serviceaccounts]
      verbs: [impersonate]
    """)
    findings, _ = run(sa("ci", "a"), sa("ci", "c"), SECRET_READER, CI_READS_SECRETS,
                      binding("z", "ClusterRole", "secret-reader", ["{kind: ServiceAccount, name: ci, namespace: c}"]),
                      impersonator,
                      binding("imp", "ClusterRole", "impersonator", ["{kind: User, name: bob}"], ns="a"))
    assert [f.message.split(",")[0] for f in findings] == ["User bob can impersonate ServiceAccount a/ci"]


def test_bind_with_create_bindings_reaches_cluster_admin():
    binder = role("binder", """
    - apiGroups: [rbac.authorization.k8s.io]
      resources: [clusterroles]
      verbs: [bind]
    - apiGroups: [rbac.authorization.k8s.io]
      resources: [clusterrolebindings]
      verbs: [create]
    """)
    findings, _ = run(binder, binding("b", "ClusterRole", "binder", ["{kind: Group, name: platform}"]))
    assert [f.message for f in findings] == [
        "Group platform can bind ClusterRole cluster-admin cluster-wide, which has every permission "
        "(cluster-admin equivalent) cluster-wide"]
    assert findings[0].severity == Severity.CRITICAL
    # bind alone (no create on bindings) is not a path
    bind_only = role("binder", """
    - apiGroups: [rbac.authorization.k8s.io]
      resources: [clusterroles]
      verbs: [bind]
    """)
    assert run(bind_only, binding("b", "ClusterRole", "binder", ["{kind: Group, name: platform}"]))[0] == []


def test_escalate_with_update_reaches_cluster_admin():
    escalator = role("escalator", """
    - apiGroups: [rbac.authorization.k8s.io]
      resources: [clusterroles]
      verbs: [escalate, update]
    """)
    findings, _ = run(escalator, binding("e", "ClusterRole", "escalator", ["{kind: User, name: carol}"]))
    assert [f.message.split(",")[0] for f in findings] == [
        "User carol can escalate clusterroles to ClusterRole cluster-admin cluster-wide"]


def test_pods_exec_into_a_pod_running_as_a_stronger_service_account():
    exec_role = role("exec", """
    - apiGroups: [""]
      resources: [pods/exec]
      verbs: [create]
    """, ns="a")
    pod = ("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\n"
           "spec: {serviceAccountName: ci, containers: [{name: c, image: i}]}\n")
    no_token = ("apiVersion: v1\nkind: Pod\nmetadata: {name: q, namespace: a}\n"
                "spec: {serviceAccountName: other, automountServiceAccountToken: false, "
                "containers: [{name: c, image: i}]}\n")
    docs = [sa("ci", "a"), sa("other", "a"), exec_role, SECRET_READER, CI_READS_SECRETS, no_token,
            binding("z", "ClusterRole", "secret-reader", ["{kind: ServiceAccount, name: other, namespace: a}"]),
            binding("exec", "Role", "exec", ["{kind: User, name: dave}"], ns="a")]
    assert run(*docs)[0] == []  # nothing runs as ci yet; other's token is not mounted
    findings, _ = run(*docs, pod)
    assert [f.message.split(",")[0] for f in findings] == [
        "User dave can exec into pods in a running as ServiceAccount a/ci"]


def test_bootstrap_bindings_are_trusted_but_still_grant():
    boot = binding("system:controller:replicaset", "ClusterRole", "pod-maker",
                   ["{kind: ServiceAccount, name: rs, namespace: kube-system}"]).replace(
        "metadata: {name: system:controller:replicaset}",
        "metadata: {name: 'system:controller:replicaset', labels: {kubernetes.io/bootstrapping: rbac-defaults}}")
    pod_maker = role("pod-maker", """
    - apiGroups: [""]
      resources: [pods]
      verbs: [create]
    """)
    findings, _ = run(sa("ci", "a"), pod_maker, boot, SECRET_READER, CI_READS_SECRETS)
    assert findings == []
    graph = build_graph(load_text("---\n".join([pod_maker, boot]), "b.yaml").resources)
    assert ("pod-create", "*") in graph.holdings(Subject("ServiceAccount", "rs", "kube-system"))


def test_one_finding_per_subject_kind_target_and_deterministic():
    everything = role("everything", """
    - apiGroups: ["*"]
      resources: ["*"]
      verbs: ["*"]
    """)
    docs = [sa("x", "a"), sa("ci", "a"), sa("ci2", "a"), POD_CREATOR, X_DEPLOYS,
            binding("deployer2", "Role", "deployer", ["{kind: ServiceAccount, name: x}"], ns="a"),
            everything, binding("god", "ClusterRole", "everything",
                                ["{kind: ServiceAccount, name: ci, namespace: a}",
                                 "{kind: ServiceAccount, name: ci2, namespace: a}"])]
    first, _ = run(*docs)
    again, _ = run(*docs)
    assert first == again
    reordered, _ = run(*reversed(docs))  # the same paths, whatever the document order
    assert [f.message for f in first] == [f.message for f in reordered]
    targets = [f.message.split(" act as ")[1].split(",")[0] for f in first]
    assert targets == ["ServiceAccount a/ci", "ServiceAccount a/ci2"]
    assert len({f.fingerprint for f in first}) == 2


def test_user_named_after_a_service_account_is_that_service_account():
    findings, _ = run(sa("x", "a"), sa("ci", "a"), POD_CREATOR, X_DEPLOYS, SECRET_READER,
                      binding("yy", "ClusterRole", "secret-reader", ["{kind: User, name: 'system:serviceaccount:a:ci'}"]))
    assert [f.message.split(",")[0] for f in findings] == [
        "ServiceAccount a/x can create pods in a and so act as ServiceAccount a/ci"]


def test_impersonating_users_reaches_service_accounts_by_their_user_name():
    impersonator = role("impersonator", """
    - apiGroups: [""]
      resources: [users]
      verbs: [impersonate]
      resourceNames: ['system:serviceaccount:a:ci']
    """)
    findings, _ = run(sa("ci", "a"), sa("other", "a"), SECRET_READER, CI_READS_SECRETS,
                      binding("z", "ClusterRole", "secret-reader", ["{kind: ServiceAccount, name: other, namespace: a}"]),
                      impersonator, binding("imp", "ClusterRole", "impersonator", ["{kind: User, name: bob}"]))
    assert [f.message.split(",")[0] for f in findings] == ["User bob can impersonate ServiceAccount a/ci"]


def test_scan_resources_runs_the_analysis_with_select_ignore_and_inline_suppression():
    from scanner.scan import ScanOptions, scan_resources

    docs = [sa("x", "a"), sa("ci", "a"), POD_CREATOR, X_DEPLOYS, SECRET_READER, CI_READS_SECRETS]

    def scan(*extra: str, **options):
        resources = load_text("---\n".join([*docs, *extra]), "rbac.yaml").resources
        return scan_resources(resources, ScanOptions(**options))

    result = scan(select=["rbac-escalation-*"])
    assert [f.rule_id for f in result.findings] == [POD_CREATE]
    assert {POD_CREATE, TOKEN, BIND_ESCALATE_IMPERSONATE} <= {r.id for r in result.rules}  # + rbac-escalation-verbs
    assert scan(select=["rbac-escalation-*"], ignore=[POD_CREATE]).findings == []
    assert scan(select=["rbac-escalation-*"], analyses=False).findings == []
    docs[3] = X_DEPLOYS.replace("namespace: a}", "namespace: a, annotations: {kguard.io/ignore: "
                                "'rbac-escalation-pod-create: CI runner, reviewed'}}")
    (finding,) = scan(select=["rbac-escalation-*"]).findings
    assert finding.suppressed and finding.suppression.justification == "CI runner, reviewed"


def test_cluster_wide_pod_creation_by_everyone_reaches_every_namespace():
    pod_maker = role("pod-maker", """
    - apiGroups: [batch]
      resources: [jobs]
      verbs: ["*"]
    """)
    node_proxy = role("node-proxy", """
    - apiGroups: [""]
      resources: [nodes/proxy]
      verbs: [get]
    """)
    docs = [sa("ci", "a"), sa("ops", "b"), node_proxy, pod_maker,
            binding("yy", "ClusterRole", "node-proxy", ["{kind: ServiceAccount, name: ops, namespace: b}"]),
            binding("everyone", "ClusterRole", "pod-maker", ["{kind: Group, name: 'system:authenticated'}"])]
    findings, _ = run(*docs)
    assert [f.message for f in findings] == [
        "Group system:authenticated can create jobs in any namespace and so act as ServiceAccount b/ops, which has "
        "nodes/proxy access cluster-wide via ClusterRoleBinding yy"]
    # a cluster-wide pod creator can mount every Secret: Secret readers elsewhere add nothing
    assert run(*docs[:2], pod_maker, docs[-1], SECRET_READER, CI_READS_SECRETS)[0] == []


def test_escalate_through_a_role_binding_is_namespaced_and_high():
    escalator = role("escalator", """
    - apiGroups: [rbac.authorization.k8s.io]
      resources: [roles]
      verbs: [escalate, patch]
    """, ns="a")
    findings, _ = run(escalator, binding("e", "Role", "escalator", ["{kind: User, name: carol}"], ns="a"))
    assert [(f.severity, f.message.split(",")[0]) for f in findings] == [
        (Severity.HIGH, "User carol can escalate roles to ClusterRole cluster-admin in namespace a")]


def test_aggregation_is_transitive_and_an_empty_selector_matches_every_cluster_role():
    top = role("top", "", extra="aggregationRule:\n  clusterRoleSelectors:\n  - matchLabels: {level: middle}\n")
    middle = role("middle", "", labels="level: middle",
                  extra="aggregationRule:\n  clusterRoleSelectors:\n  - matchLabels: {level: bottom}\n")
    bottom = role("bottom", """
    - apiGroups: [""]
      resources: [secrets]
      verbs: [watch]
    """, labels="level: bottom")
    everything = role("everything", "", extra="aggregationRule:\n  clusterRoleSelectors:\n  - {}\n")
    graph = build_graph(load_text("---\n".join([top, middle, bottom, everything]), "r.yaml").resources)
    assert [r.role.name for r in graph.roles[("ClusterRole", "", "top")]] == ["bottom"]
    assert sorted(r.role.name for r in graph.roles[("ClusterRole", "", "everything")]) == ["bottom"]


@pytest.mark.cluster
def test_live_audit_resolves_the_real_aggregated_edit_role(control_plane, tmp_path):  # noqa: F811
    """The same analysis on objects read from a real kube-apiserver: `edit` is resolved through its aggregation."""
    from scanner.cluster.audit import AuditOptions, run_audit
    from scanner.cluster.read import ReadOptions
    from scanner.scan import ScanOptions
    from tests.cluster.conftest import Kube
    from tests.fixtures.controlplane import api_request, write_kubeconfig

    kube = Kube(control_plane)

    ns = kube.namespace("rbac-escalation")
    kube.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "ci", "namespace": ns}})
    status, body = api_request(kube.plane.server, kube.plane.ca_file, kube.plane.admin_token, "POST",
                               "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
                                   "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                                   "metadata": {"name": f"{ns}-ci-admin"},
                                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                               "name": "cluster-admin"},
                                   "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": ns}]})
    assert status == 201, body
    kube.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                 "metadata": {"name": "alice-edit", "namespace": ns},
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
                 "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]})
    kubeconfig = write_kubeconfig(tmp_path / "admin.kubeconfig", kube.plane.server, kube.plane.ca_file, "admin",
                                  kube.plane.admin_token)

    audit = run_audit(AuditOptions(kubeconfig=str(kubeconfig), read=ReadOptions()),
                      ScanOptions(select=[POD_CREATE, TOKEN, BIND_ESCALATE_IMPERSONATE]))

    mine = [f for f in audit.result.findings if f.resource.namespace == ns]
    assert [(f.rule_id, f.resource.name, f.severity) for f in mine] == [
        (BIND_ESCALATE_IMPERSONATE, "alice-edit", Severity.CRITICAL),
        (POD_CREATE, "alice-edit", Severity.CRITICAL),
        (TOKEN, "alice-edit", Severity.CRITICAL)]
    assert mine[1].message == (f"User alice can create pods in {ns} and so act as ServiceAccount {ns}/ci, which has "
                               f"every permission (cluster-admin equivalent) cluster-wide via ClusterRoleBinding "
                               f"{ns}-ci-admin")
    assert mine[1].related[0].resource.name == "system:aggregate-to-edit"


@pytest.mark.integration
def test_kustomize_overlay_finding_points_at_the_subject_line_in_the_base_file(tmp_path):
    from scanner.engine.review import apply_default_namespace
    from scanner.load.kustomize import load_overlay

    base, overlay = tmp_path / "base", tmp_path / "overlays" / "prod"
    base.mkdir()
    overlay.mkdir(parents=True)
    rbac = "---\n".join([sa("x", "a").replace("namespace: a", "namespace: placeholder"), POD_CREATOR,
                         X_DEPLOYS, SECRET_READER, CI_READS_SECRETS, sa("ci", "a")]).replace("namespace: a", "namespace: shop")
    (base / "rbac.yaml").write_text(rbac)
    (base / "kustomization.yaml").write_text("resources: [rbac.yaml]\n")
    # (a namePrefix renames the subject, and blame then stops at `subjects:`, a limit of the Kustomize blame)
    (overlay / "kustomization.yaml").write_text("namespace: shop\nresources: [../../base]\n")

    loaded = load_overlay(overlay)
    assert not loaded.errors
    apply_default_namespace(loaded.resources, "default")
    (finding,), _ = analyse(loaded.resources)
    subject_line = rbac.splitlines().index("  - {kind: ServiceAccount, name: x}") + 1
    assert finding.location.path.endswith("base/rbac.yaml") and finding.location.line == subject_line
    assert finding.message == ("ServiceAccount shop/x can create pods in shop and so act as ServiceAccount "
                               "shop/ci, which has read access to Secrets cluster-wide via ClusterRoleBinding yy")


def test_malformed_objects_never_raise():
    junk = [
        "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c, namespace: a}\nspec: {jobTemplate: {spec: {template: null}}}\n",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: a}\nspec: [1, 2]\n",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: b, namespace: a}\n"
        "roleRef: deployer\nsubjects: {kind: User}\n",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: c}\n"
        "roleRef: {kind: ClusterRole, name: agg}\nsubjects: [7, {kind: User}, {kind: Robot, name: r}]\n",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: agg}\n"
        "aggregationRule: {clusterRoleSelectors: [{matchLabels: [x]}, 3, {matchExpressions: [1]}]}\nrules: {a: b}\n",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: deployer, namespace: a}\n"
        "rules: [{apiGroups: '', resources: 5, verbs: [create]}, null]\n",
    ]
    assert run(*junk)[0] == []


def test_each_impersonation_rule_of_a_subject_is_followed():
    impersonator = role("impersonator", """
    - apiGroups: [""]
      resources: [serviceaccounts]
      verbs: [impersonate]
    - apiGroups: [""]
      resources: [groups]
      verbs: [impersonate]
    """)
    findings, _ = run(impersonator, binding("imp", "ClusterRole", "impersonator", ["{kind: User, name: bob}"]))
    assert [f.message.split(",")[0] for f in findings] == ["User bob can impersonate Group system:masters"]


def _exec_docs(verb: str, runner: str) -> list[str]:
    exec_role = role("exec", f"""
    - apiGroups: [""]
      resources: [pods/exec]
      verbs: [{verb}]
    """, ns="a")
    return [sa("ci", "a"), exec_role, SECRET_READER, CI_READS_SECRETS, runner,
            binding("exec", "Role", "exec", ["{kind: User, name: dave}"], ns="a")]


POD_AS_CI = ("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\n"
             "spec: {serviceAccountName: ci, containers: [{name: c, image: i}]}\n")


@pytest.mark.parametrize("verb", ["create", "get"])
def test_pods_exec_by_either_verb_is_an_escalation(verb):
    """`kubectl exec` opens a websocket with GET (Kubernetes >= 1.30) or POST: both verbs reach the pod's token."""
    findings, _ = run(*_exec_docs(verb, POD_AS_CI))
    assert [(f.rule_id, f.message.split(",")[0]) for f in findings] == [
        (POD_CREATE, "User dave can exec into pods in a running as ServiceAccount a/ci")]


def test_pods_exec_needs_an_exec_verb():
    assert run(*_exec_docs("list", POD_AS_CI))[0] == []


WORKLOAD_TEMPLATES = {
    "apps/v1 Deployment": "spec: {template: {spec: {serviceAccountName: ci, containers: [{name: c, image: i}]}}}",
    "apps/v1 StatefulSet": "spec: {template: {spec: {serviceAccountName: ci, containers: [{name: c, image: i}]}}}",
    "apps/v1 DaemonSet": "spec: {template: {spec: {serviceAccountName: ci, containers: [{name: c, image: i}]}}}",
    "apps/v1 ReplicaSet": "spec: {template: {spec: {serviceAccountName: ci, containers: [{name: c, image: i}]}}}",
    "v1 ReplicationController": "spec: {template: {spec: {serviceAccountName: ci, containers: [{name: c, image: i}]}}}",
    "batch/v1 Job": "spec: {template: {spec: {serviceAccountName: ci, containers: [{name: c, image: i}]}}}",
    "batch/v1 CronJob": ("spec: {jobTemplate: {spec: {template: {spec: {serviceAccountName: ci, "
                         "containers: [{name: c, image: i}]}}}}}"),
    "argoproj.io/v1alpha1 Rollout": ("spec: {template: {spec: {serviceAccountName: ci, "
                                     "containers: [{name: c, image: i}]}}}"),
    "v1 PodTemplate": "template: {spec: {serviceAccountName: ci, containers: [{name: c, image: i}]}}",
}


@pytest.mark.parametrize("api_kind", sorted(WORKLOAD_TEMPLATES))
def test_pods_of_every_workload_kind_run_as_their_service_account(api_kind):
    """A workload's pods (an Argo Rollout's too) run as its template's ServiceAccount, so exec reaches that token."""
    api_version, kind = api_kind.split()
    workload = f"apiVersion: {api_version}\nkind: {kind}\nmetadata: {{name: w, namespace: a}}\n"
    body = WORKLOAD_TEMPLATES[api_kind]
    findings, _ = run(*_exec_docs("create", workload + body + "\n"))
    expected = [] if kind == "PodTemplate" else ["User dave can exec into pods in a running as ServiceAccount a/ci"]
    assert [f.message.split(",")[0] for f in findings] == expected


def test_a_kind_of_another_api_group_is_not_a_workload():
    look_alike = ("apiVersion: example.com/v1\nkind: Deployment\nmetadata: {name: w, namespace: a}\n"
                  "spec: {template: {spec: {serviceAccountName: ci, containers: [{name: c, image: i}]}}}\n")
    assert run(*_exec_docs("create", look_alike))[0] == []


def test_creating_any_workload_kind_of_the_table_is_pod_creation():
    from scanner.analysis.rbac.capabilities import WORKLOADS
    from scanner.workloads import WORKLOAD_KINDS

    assert set(WORKLOADS) == {(w.groups[0], w.kind.lower() + "s") for w in WORKLOAD_KINDS if w.runs_pods}


def test_creating_argo_rollouts_reaches_a_powerful_service_account():
    rollout_creator = role("rollouts", """
    - apiGroups: [argoproj.io]
      resources: [rollouts]
      verbs: [create]
    """, ns="a")
    findings, _ = run(sa("x", "a"), sa("ci", "a"), rollout_creator, SECRET_READER, CI_READS_SECRETS,
                      binding("r", "Role", "rollouts", ["{kind: ServiceAccount, name: x}"], ns="a"))
    assert [(f.rule_id, f.message.split(" and so ")[0]) for f in findings] == [
        (POD_CREATE, "ServiceAccount a/x can create rollouts in a")]


BINDER = role("binder", """
- apiGroups: [rbac.authorization.k8s.io]
  resources: [clusterroles]
  verbs: [bind]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [rolebindings]
  verbs: [create]
""")
CLUSTER_BINDING_CREATOR = role("crb-creator", """
- apiGroups: [rbac.authorization.k8s.io]
  resources: [clusterrolebindings]
  verbs: [create]
""")


def test_bind_through_a_role_binding_reaches_cluster_admin_in_that_namespace_only():
    """A RoleBinding's bind + create rolebindings binds roles in its namespace (high: the gain is namespaced),
    even when the subject may also create ClusterRoleBindings (those need bind cluster-wide)."""
    findings, _ = run(BINDER, binding("b", "ClusterRole", "binder", ["{kind: User, name: erin}"], ns="team-a"),
                      CLUSTER_BINDING_CREATOR, binding("c", "ClusterRole", "crb-creator", ["{kind: User, name: erin}"]))
    assert [(f.rule_id, f.severity, f.message.split(",")[0]) for f in findings] == [
        (BIND_ESCALATE_IMPERSONATE, Severity.HIGH, "User erin can bind ClusterRole cluster-admin in namespace team-a")]


def test_bind_limited_by_resource_names_reaches_only_the_named_cluster_roles():
    binder = role("binder", """
    - apiGroups: [rbac.authorization.k8s.io]
      resources: [clusterroles]
      verbs: [bind]
      resourceNames: [secret-reader]
    - apiGroups: [rbac.authorization.k8s.io]
      resources: [clusterrolebindings]
      verbs: [create]
    """)
    node_proxy = role("node-proxy", """
    - apiGroups: [""]
      resources: [nodes/proxy]
      verbs: [get]
    """)
    findings, _ = run(binder, SECRET_READER, node_proxy, binding("b", "ClusterRole", "binder",
                                                                  ["{kind: User, name: erin}"]))
    assert [f.message.split(",")[0] for f in findings] == ["User erin can bind ClusterRole secret-reader cluster-wide"]


def test_bind_on_named_roles_reaches_the_role_of_the_binding_s_namespace_only():
    boss = """
    - apiGroups: [""]
      resources: [secrets]
      verbs: [get]
    """
    binder = role("role-binder", """
    - apiGroups: [rbac.authorization.k8s.io]
      resources: [roles]
      verbs: [bind]
      resourceNames: [secret-boss]
    - apiGroups: [rbac.authorization.k8s.io]
      resources: [rolebindings]
      verbs: [create]
    """)
    docs = [*(role("secret-boss", boss, ns=ns) for ns in ("team-a", "team-b", "team-c")),
            role("other", boss, ns="team-b"), binder,
            binding("b", "ClusterRole", "role-binder", ["{kind: User, name: erin}"], ns="team-b")]
    expected = [(Severity.HIGH, "User erin can bind Role team-b/secret-boss in namespace team-b")]
    findings, _ = run(*docs)
    assert [(f.severity, f.message.split(",")[0]) for f in findings] == expected
    # objects read from a live cluster are decoded JSON: equal names are never the same string object
    read = [Resource(obj=json.loads(json.dumps(r.obj)), path=f"cluster/{i}", positions={}, origin="cluster")
            for i, r in enumerate(load_text("---\n".join(docs), "rbac.yaml").resources)]
    assert [(f.severity, f.message.split(",")[0]) for f in analyse(read)[0]] == expected


def test_escalate_needs_update_or_patch_and_update_alone_is_no_escalation():
    for verbs in ("[update, patch]", "[escalate]"):
        only = role("only", f"""
        - apiGroups: [rbac.authorization.k8s.io]
          resources: [clusterroles, roles]
          verbs: {verbs}
        """)
        assert run(only, binding("u", "ClusterRole", "only", ["{kind: User, name: carol}"]))[0] == [], verbs


def test_bind_with_create_rolebindings_through_a_cluster_role_binding_is_not_cluster_admin():
    """Without create on ClusterRoleBindings, bind reaches roles namespace by namespace only (reported not at all:
    docs/analysis-rbac.md), never cluster-wide."""
    findings, _ = run(BINDER, binding("b", "ClusterRole", "binder", ["{kind: User, name: erin}"]))
    assert not any("cluster-wide" in f.message.split(",")[0] for f in findings)
    assert all(f.severity < Severity.CRITICAL for f in findings)


def test_impersonating_users_reaches_users_not_groups():
    impersonator = role("impersonator", """
    - apiGroups: [""]
      resources: [users]
      verbs: [impersonate]
    """)
    findings, _ = run(impersonator, binding("imp", "ClusterRole", "impersonator", ["{kind: User, name: bob}"]),
                      SECRET_READER, binding("s", "ClusterRole", "secret-reader",
                                             ["{kind: User, name: alice}", "{kind: Group, name: ops}"]))
    assert [f.message.split(",")[0] for f in findings] == ["User bob can impersonate User alice"]


def test_implied_groups_are_the_api_server_s():
    """docs/analysis-rbac.md, Subjects: the groups the API server adds to an authenticated identity."""
    from scanner.analysis.rbac.subjects import implied_groups, subject_of_entry

    def groups(kind: str, name: str, namespace: str = "") -> list[str]:
        return [g.name for g in implied_groups(subject_of_entry(kind, name, namespace))]

    assert groups("ServiceAccount", "ci", "a") == ["system:serviceaccounts", "system:serviceaccounts:a",
                                                   "system:authenticated"]
    assert groups("User", "system:serviceaccount:a:ci") == groups("ServiceAccount", "ci", "a")
    assert groups("User", "bob") == ["system:authenticated"]
    assert groups("User", "system:anonymous") == ["system:unauthenticated"]
    assert groups("Group", "ops") == ["system:authenticated"]
    assert groups("Group", "system:authenticated") == groups("Group", "system:unauthenticated") == []
    assert groups("Group", "system:serviceaccounts:a") == ["system:serviceaccounts", "system:authenticated"]
    assert all(g.kind == "Group" for g in implied_groups(subject_of_entry("User", "bob", "")))


def test_only_a_user_named_system_serviceaccount_ns_name_is_that_service_account():
    from scanner.analysis.rbac.subjects import Subject, subject_of_entry

    assert subject_of_entry("User", "system:serviceaccount:a:ci", "x") == Subject("ServiceAccount", "ci", "a")
    assert subject_of_entry("ServiceAccount", "ci", "a") == Subject("ServiceAccount", "ci", "a")
    for name in ("system:serviceaccount:a", "system:serviceaccount:a:ci:x", "system:serviceaccount::ci",
                 "system:serviceaccounts:a:ci"):
        assert subject_of_entry("User", name, "x") == Subject("User", name), name
    assert subject_of_entry("Group", "system:serviceaccount:a:ci", "x") == Subject("Group",
                                                                                    "system:serviceaccount:a:ci")
