"""Pure parts of the cluster reader: pagination, item normalisation, coverage, kind planning, paths, backoff."""

from __future__ import annotations

import pytest

from scanner.cluster.client import ApiError, backoff_delay, error_message
from scanner.cluster.coverage import Gap, aggregate
from scanner.cluster.discovery import ApiResource, Discovery, parse_resource_list
from scanner.cluster.kinds import constraint_patterns, groups_needed, plan
from scanner.cluster.listing import normalise, paginate
from scanner.cluster.read import ReadOptions, in_scope, synthetic_path
from scanner.engine.templates import Constraint


class _Pages:
    """A list endpoint: pages of ``size`` items; optionally the first continue token expires once (410)."""

    def __init__(self, total: int, size: int, expire_once: bool = False) -> None:
        self.items = [{"metadata": {"name": f"o{i}"}} for i in range(total)]
        self.size, self.expire_once, self.calls = size, expire_once, []

    def __call__(self, params: dict) -> dict:
        self.calls.append(dict(params))
        start = int(params["continue"] or 0)
        if params["continue"] and self.expire_once:
            self.expire_once = False
            raise ApiError(410, "The provided continue parameter is too old")
        end = start + self.size
        token = str(end) if end < len(self.items) else ""
        return {"items": self.items[start:end], "metadata": {"continue": token}}


def test_paginate_follows_continue_tokens() -> None:
    pages = _Pages(7, 3)
    items = paginate(pages, 3)
    assert [i["metadata"]["name"] for i in items] == [f"o{i}" for i in range(7)]
    assert [c["continue"] for c in pages.calls] == [None, "3", "6"]
    assert all(c["limit"] == 3 for c in pages.calls)


def test_paginate_restarts_on_410_gone_without_duplicates() -> None:
    pages = _Pages(5, 2, expire_once=True)
    items = paginate(pages, 2)
    assert len(items) == 5 and len({i["metadata"]["name"] for i in items}) == 5
    assert pages.calls[2]["continue"] is None  # restarted from the beginning


def test_paginate_gives_up_on_other_errors() -> None:
    def forbidden(_params: dict) -> dict:
        raise ApiError(403, "forbidden")

    with pytest.raises(ApiError) as caught:
        paginate(forbidden, 10)
    assert caught.value.status == 403


def test_normalise_sets_identity_and_drops_managed_fields() -> None:
    res = ApiResource(group="apps", version="v1", kind="Deployment", plural="deployments", namespaced=True)
    obj = normalise({"metadata": {"name": "x", "managedFields": [{"manager": "kubectl"}]}, "spec": {}}, res)
    assert obj["apiVersion"] == "apps/v1" and obj["kind"] == "Deployment"
    assert "managedFields" not in obj["metadata"]


def test_resource_paths() -> None:
    core = ApiResource(group="", version="v1", kind="Pod", plural="pods", namespaced=True)
    crb = ApiResource(group="rbac.authorization.k8s.io", version="v1", kind="ClusterRoleBinding",
                      plural="clusterrolebindings", namespaced=False)
    assert core.path() == "/api/v1/pods" and core.path("shop") == "/api/v1/namespaces/shop/pods"
    assert crb.path("shop") == "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"


def test_parse_resource_list_keeps_listable_top_level_resources() -> None:
    body = {"resources": [
        {"name": "pods", "kind": "Pod", "namespaced": True, "verbs": ["get", "list"]},
        {"name": "pods/log", "kind": "Pod", "namespaced": True, "verbs": ["get"]},
        {"name": "bindings", "kind": "Binding", "namespaced": True, "verbs": ["create"]},
    ]}
    assert [r.plural for r in parse_resource_list("", "v1", body)] == ["pods"]


def test_coverage_collapses_a_kind_forbidden_everywhere() -> None:
    gaps = [Gap(kind="Role", group="rbac.authorization.k8s.io", version="v1", namespace=ns, status=403,
                message="cannot list Role") for ns in ("a", "b")]
    gaps.append(Gap(kind="Secret", group="", version="v1", namespace="a", status=403, message="cannot list Secret"))
    entries = aggregate(gaps, ["a", "b"])
    assert [(e["kind"], e["namespace"], e["reason"]) for e in entries] == [
        ("Secret", "a", "forbidden"), ("Role", None, "forbidden")]
    assert "in all 2 namespaces" in entries[1]["message"]
    assert set(entries[0]) == {"kind", "group", "version", "namespace", "reason", "status", "message"}


def test_coverage_keeps_partial_namespaces_and_not_found() -> None:
    gaps = [Gap(kind="Role", group="rbac.authorization.k8s.io", version="v1", namespace="a", status=403,
                message="m"),
            Gap(kind="Widget", group="example.com", version="v1", namespace=None, status=404, message="gone")]
    entries = aggregate(gaps, ["a", "b"])
    assert [(e["kind"], e["namespace"], e["reason"]) for e in entries] == [
        ("Widget", None, "not-found"), ("Role", "a", "forbidden")]


def _discovery(*resources: ApiResource) -> Discovery:
    return Discovery(resources={(r.group, r.kind): r for r in resources})


def test_plan_adds_inventory_kinds_and_reports_unserved_policy_kinds() -> None:
    pod = ApiResource(group="", version="v1", kind="Pod", plural="pods", namespaced=True)
    ns = ApiResource(group="", version="v1", kind="Namespace", plural="namespaces", namespaced=False)
    cm = ApiResource(group="", version="v1", kind="ConfigMap", plural="configmaps", namespaced=True)
    k8s_constraint = ApiResource(group="constraints.gatekeeper.sh", version="v1beta1", kind="K8sPrivileged",
                                 plural="k8sprivileged", namespaced=False)
    constraints = [Constraint(kind="K", name="a", match={"kinds": [{"apiGroups": [""], "kinds": ["ConfigMap"]},
                                                                   {"apiGroups": ["argoproj.io"],
                                                                    "kinds": ["Rollout"]}]})]
    patterns = constraint_patterns(constraints)
    result = plan(patterns, _discovery(pod, ns, cm, k8s_constraint))
    assert [r.kind for r in result.resources] == ["ConfigMap", "Namespace", "Pod", "K8sPrivileged"]
    assert result.not_installed == ["Rollout.argoproj.io"]


def test_wildcard_constraints_need_every_group() -> None:
    assert groups_needed(constraint_patterns([Constraint(kind="K", name="a")])) is None
    named = groups_needed({("apps", "Deployment")})
    assert named is not None and "apps" in named and "rbac.authorization.k8s.io" in named


def test_synthetic_path_is_stable_and_safe() -> None:
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}}
    assert synthetic_path("admin@prod/eu", obj) == "cluster/admin@prod_eu/shop/apps/Deployment/web.yaml"
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "system:x"}}
    assert synthetic_path("c", role) == "cluster/c/_cluster/rbac.authorization.k8s.io/ClusterRole/system_x.yaml"


def test_namespace_scope() -> None:
    options = ReadOptions(exclude_namespaces=["kube-*"])
    assert in_scope("shop", options) and not in_scope("kube-system", options) and in_scope(None, options)
    only = ReadOptions(namespaces=["shop"])
    assert in_scope("shop", only) and not in_scope("other", only)


def test_backoff_grows_and_honours_retry_after() -> None:
    assert backoff_delay(1, 0.5, "3") == 3.0
    assert 0.25 <= backoff_delay(1, 0.5) <= 0.5
    assert 2.0 <= backoff_delay(4, 0.5) <= 4.0
    assert backoff_delay(20, 0.5) <= 30.0


def test_error_message_reads_status_bodies() -> None:
    assert error_message(403, b'{"kind":"Status","message":"roles is forbidden"}') == "roles is forbidden"
    assert error_message(502, b"") == "HTTP 502"


def test_the_kubernetes_client_is_imported_only_by_the_audit_path() -> None:
    import subprocess
    import sys

    code = ("import sys, scanner.cli, scanner.cluster.audit, scanner.cluster.read, scanner.drift; "
            "sys.exit(1 if 'kubernetes' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_templates_blind_to_unreadable_inventory_are_left_out() -> None:
    from scanner.cluster.audit import without_blind_templates
    from scanner.engine.templates import Template, TemplateSet

    def template(kind: str, rego: str) -> Template:
        return Template(kind=kind, rego=f"package x\n{rego}\n", source=f"{kind}.yaml")

    templates = TemplateSet(
        templates={"Netpol": template("Netpol", "x := data.inventory.namespace"),
                   "Custom": template("Custom", "y := data.inventory.cluster"),
                   "Plain": template("Plain", "z := input.review")},
        constraints=[Constraint(kind=k, name=k.lower()) for k in ("Netpol", "Custom", "Plain")])
    sync = {"Netpol": {("networking.k8s.io", "NetworkPolicy")}}

    kept, skipped = without_blind_templates(templates, sync, {("apps", "ReplicaSet")})
    assert sorted(kept.templates) == ["Netpol", "Plain"]  # Custom declares nothing: any gap blinds it
    assert [s.path for s in skipped] == ["Custom.yaml"]

    kept, skipped = without_blind_templates(templates, sync, {("networking.k8s.io", "NetworkPolicy")})
    assert sorted(kept.templates) == ["Plain"] and [c.kind for c in kept.constraints] == ["Plain"]
    assert "NetworkPolicy.networking.k8s.io" in skipped[1].reason

    assert without_blind_templates(templates, sync, set()) == (templates, [])
