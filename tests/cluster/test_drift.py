"""Drift: Git vs live objects (identity and security fields) and Gatekeeper templates/counts."""

from __future__ import annotations

import copy
from pathlib import Path

from scanner.drift import (
    RULES,
    gatekeeper_count_drift,
    gatekeeper_template_drift,
    git_drift,
    security_differences,
)
from scanner.engine.catalogue import Policy, Rule
from scanner.model import Resource, Severity

DEPLOY = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
    "spec": {"template": {"spec": {
        "containers": [{"name": "app", "image": "web:1", "securityContext": {"runAsNonRoot": True}},
                       {"name": "sidecar", "image": "proxy:1"}],
        "volumes": [{"name": "config", "configMap": {"name": "web"}}],
    }}},
}


def _live(obj: dict) -> dict:
    """What the API server returns for an applied object: defaults filled in."""
    live = copy.deepcopy(obj)
    pod = live["spec"]["template"]["spec"]
    pod["securityContext"] = {}
    pod["dnsPolicy"] = "ClusterFirst"
    for vol in pod.get("volumes", []):
        if "configMap" in vol:
            vol["configMap"]["defaultMode"] = 420
    for c in pod["containers"]:
        c["terminationMessagePath"] = "/dev/termination-log"
    return live


def _res(obj: dict, path: str = "manifests/x.yaml", origin: str = "file") -> Resource:
    return Resource(obj=obj, path=path, origin=origin)


def test_defaults_added_by_the_api_server_are_no_drift() -> None:
    assert security_differences(DEPLOY, _live(DEPLOY)) == []


def test_changed_security_fields_are_found_by_container_name() -> None:
    live = _live(DEPLOY)
    pod = live["spec"]["template"]["spec"]
    pod["containers"].reverse()  # order does not matter
    pod["containers"][0]["securityContext"] = {"privileged": True}  # sidecar now privileged
    pod["hostNetwork"] = True
    pod["serviceAccountName"] = "admin"
    pod["volumes"].append({"name": "root", "hostPath": {"path": "/", "type": ""}})
    diffs = {d.what: d for d in security_differences(DEPLOY, live)}
    assert set(diffs) == {"securityContext of container sidecar", "hostNetwork", "serviceAccountName", "volumes"}
    assert diffs["securityContext of container sidecar"].field_path == (
        "spec", "template", "spec", "containers", 1, "securityContext")
    assert diffs["serviceAccountName"].git == "default" and diffs["serviceAccountName"].cluster == "admin"


def test_networkpolicy_and_rbac_defaults_and_changes() -> None:
    git_np = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "n"},
              "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]}}
    live_np = copy.deepcopy(git_np)
    live_np["spec"]["policyTypes"] = ["Ingress"]
    live_np["spec"]["ingress"][0]["ports"][0]["protocol"] = "TCP"
    assert security_differences(git_np, live_np) == []
    live_np["spec"]["ingress"][0]["from"] = [{"ipBlock": {"cidr": "0.0.0.0/0"}}]
    assert [d.what for d in security_differences(git_np, live_np)] == ["NetworkPolicy spec"]

    git_rb = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "b"},
              "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
              "subjects": [{"kind": "User", "name": "ann"}]}
    live_rb = copy.deepcopy(git_rb)
    live_rb["subjects"] = [{"kind": "User", "name": "ann", "apiGroup": "rbac.authorization.k8s.io"}]
    assert security_differences(git_rb, live_rb) == []
    live_rb["subjects"].append({"kind": "Group", "name": "system:authenticated"})
    assert [d.what for d in security_differences(git_rb, live_rb)] == ["subjects"]

    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r"},
            "rules": [{"apiGroups": [""], "resources": ["pods", "services"], "verbs": ["get", "list"]}]}
    live_role = copy.deepcopy(role)
    live_role["rules"][0]["verbs"] = ["list", "get"]
    assert security_differences(role, live_role) == []
    live_role["rules"][0]["verbs"].append("delete")
    assert [d.field_path for d in security_differences(role, live_role)] == [("rules",)]


def _ns(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def test_git_drift_missing_both_ways_and_security() -> None:
    extra = copy.deepcopy(DEPLOY)
    extra["metadata"]["name"] = "hand-made"
    gone = copy.deepcopy(DEPLOY)
    gone["metadata"]["name"] = "not-deployed"
    live_web = _live(DEPLOY)
    live_web["spec"]["template"]["spec"]["hostPID"] = True
    owned_rs = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
        "name": "made-by-operator", "namespace": "shop", "ownerReferences": [{"kind": "X", "name": "y"}]}}
    other_ns = copy.deepcopy(extra)
    other_ns["metadata"]["namespace"] = "team-b"
    default_sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "shop"}}
    git_sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "web", "namespace": "shop"}}
    cluster = [_res(o, "cluster/c/x.yaml", "cluster") for o in
               (live_web, extra, owned_rs, other_ns, default_sa, _ns("shop"), _ns("kube-system"), git_sa)]
    git = [_res(o) for o in (DEPLOY, gone, git_sa, _ns("shop"))]
    rollout = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "r", "namespace": "shop"}}
    elsewhere = copy.deepcopy(gone)
    elsewhere["metadata"]["namespace"] = "not-audited"
    git.extend([_res(rollout), _res(elsewhere)])
    findings = git_drift(cluster, git, readable={("apps", "Deployment"), ("", "ServiceAccount"), ("", "Namespace")},
                         in_scope=lambda ns: ns != "not-audited", not_served={("argoproj.io", "Rollout")})
    got = sorted((f.rule_id, f.resource.name) for f in findings)
    assert got == [("drift-missing-in-cluster", "not-deployed"), ("drift-missing-in-cluster", "r"),
                   ("drift-missing-in-git", "hand-made"),
                   ("drift-security-field", "web")]
    assert "does not serve Rollout" in next(f.message for f in findings if f.resource.name == "r")
    security = next(f for f in findings if f.rule_id == "drift-security-field")
    assert security.location.path == "manifests/x.yaml" and "hostPID" in security.message
    assert security.severity is RULES["drift-security-field"].severity


def test_unreadable_kinds_are_never_missing_in_cluster() -> None:
    findings = git_drift([], [_res(DEPLOY)], readable=set())
    assert findings == []


def _policy(rego: str) -> Policy:
    rule = Rule(id="privileged", kind="KguardPrivileged", title="t", description="d", severity=Severity.HIGH,
                category="pod-security", tags=(), remediation="r", help_url="", source="policies/p/metadata.yaml")
    return Policy(rule=rule, rego=rego, libs=(), parameters_schema=None, constraint={}, sync=(),
                  directory=Path("policies/p"))


def test_gatekeeper_template_drift_compares_generated_rego() -> None:
    policy = _policy("package kguard.p\n\nviolation contains {\"msg\": \"x\"} if { input.review.object.bad }\n")
    same = _res(policy.to_template(), "cluster/c/t.yaml", "cluster")
    changed_obj = policy.to_template()
    changed_obj["spec"]["targets"][0]["code"][0]["source"]["rego"] = "package kguard.p\n\nviolation := []\n"
    changed = _res(changed_obj, "cluster/c/t.yaml", "cluster")
    assert gatekeeper_template_drift([same], [policy]) == []
    findings = gatekeeper_template_drift([changed], [policy])
    assert [f.rule_id for f in findings] == ["drift-gatekeeper-template"]
    assert "policies/p/metadata.yaml" in findings[0].message


def test_gatekeeper_count_drift() -> None:
    constraint = {"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "KguardPrivileged",
                  "metadata": {"name": "privileged"}, "status": {"totalViolations": 3}}
    res = _res(constraint, "cluster/c/k.yaml", "cluster")
    assert gatekeeper_count_drift([res], {"KguardPrivileged/privileged": 3}) == []
    findings = gatekeeper_count_drift([res], {"KguardPrivileged/privileged": 1})
    assert len(findings) == 1 and "reports 3" in findings[0].message and "finds 1" in findings[0].message
    assert gatekeeper_count_drift([res], {}) == []  # a constraint kguard cannot evaluate is not compared
