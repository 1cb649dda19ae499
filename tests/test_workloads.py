"""The workload table (scanner/workloads.py): its facts, the Rego library generated from it, and every stage that
reads it agreeing on it."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from scanner import workloads
from scanner.analysis.reachability import workloads as reachable_workloads
from scanner.cluster.owners import owners, rebase
from scanner.drift import security_fields
from scanner.engine.catalogue import POD_SECURITY_KINDS
from scanner.load.files import load_text
from scanner.workloads import CONTROLLERS, WORKLOAD_KINDS, pod_spec_path, template_path, workload

# Upstream facts (Kubernetes API reference; k8s.io/pod-security-admission's PodSpecExtractor; Argo Rollouts CRD).
EXPECTED_TEMPLATES = {
    ("", "Pod"): (), ("", "PodTemplate"): ("template",), ("", "ReplicationController"): ("spec", "template"),
    ("apps", "Deployment"): ("spec", "template"), ("apps", "StatefulSet"): ("spec", "template"),
    ("apps", "DaemonSet"): ("spec", "template"), ("apps", "ReplicaSet"): ("spec", "template"),
    ("extensions", "Deployment"): ("spec", "template"), ("extensions", "DaemonSet"): ("spec", "template"),
    ("extensions", "ReplicaSet"): ("spec", "template"), ("batch", "Job"): ("spec", "template"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template"), ("argoproj.io", "Rollout"): ("spec", "template"),
}


def test_the_table_holds_the_upstream_facts() -> None:
    known = {(g, w.kind): w.template for w in WORKLOAD_KINDS for g in w.groups}
    assert known == EXPECTED_TEMPLATES
    for (group, kind), path in EXPECTED_TEMPLATES.items():
        assert template_path(group, kind) == path
        assert pod_spec_path(group, kind) == (*path, "spec")
    assert workload("example.com", "Deployment") is None and workload("apps", "Pod") is None
    assert [w.kind for w in WORKLOAD_KINDS if not w.runs_pods] == ["PodTemplate"]


def test_owner_relations() -> None:
    assert {key for key in EXPECTED_TEMPLATES if key[1] not in ("Pod", "PodTemplate")} == CONTROLLERS
    controls = {w.kind: set(w.controls) for w in WORKLOAD_KINDS}
    assert controls["Deployment"] == controls["Rollout"] == {"ReplicaSet"}
    assert controls["CronJob"] == {"Job"}
    for kind in ("ReplicaSet", "StatefulSet", "DaemonSet", "Job", "ReplicationController"):
        assert controls[kind] == {"Pod"}


def test_the_rego_library_block_is_generated_from_the_table() -> None:
    text = workloads.REGO_LIBRARY.read_text()
    assert text == workloads.render_rego_library(text), "run `python -m scanner.workloads`, then `kguard gatekeeper build`"
    done = subprocess.run([sys.executable, "-m", "scanner.workloads", "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for (group, kind), path in EXPECTED_TEMPLATES.items():
        assert f'"{kind}": {list(path)!r}'.replace("'", '"') in workloads.rego_block(), (group, kind)


def test_a_stale_rego_block_is_replaced_and_a_missing_one_refused() -> None:
    stale = f"package lib.workload\n\n{workloads.REGO_BEGIN}\n_template_paths := {{}}\n{workloads.REGO_END}\n\nx := 1\n"
    rendered = workloads.render_rego_library(stale)
    assert rendered == f"package lib.workload\n\n{workloads.rego_block()}\n\nx := 1\n"
    with pytest.raises(ValueError, match="no block"):
        workloads.render_rego_library("package lib.workload\n")


def test_pod_security_constraints_match_every_workload_kind() -> None:
    matched = {(g, k) for entry in POD_SECURITY_KINDS for g in entry["apiGroups"] for k in entry["kinds"]}
    assert matched == set(EXPECTED_TEMPLATES)


def _objects(api_version: str, kind: str) -> str:
    """One object of ``kind`` with a privileged pod at its (expected) template path."""
    path = EXPECTED_TEMPLATES.get((workloads.group_of(api_version), kind), ("spec", "template"))
    pod: dict = {"metadata": {"labels": {"app": "w"}}, "spec": {"serviceAccountName": "ci", "containers": [
        {"name": "c", "image": "i", "ports": [{"containerPort": 80}], "securityContext": {"privileged": True}}]}}
    obj: dict = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "w", "namespace": "a"}}
    if not path:
        obj["spec"] = pod["spec"]
    else:
        holder = obj
        for step in path[:-1]:
            holder = holder.setdefault(step, {})
        holder[path[-1]] = pod
    return yaml.safe_dump(obj)


@pytest.mark.parametrize(("api_version", "kind"), [("v1", "Pod"), ("apps/v1", "Deployment"),
                                                    ("extensions/v1beta1", "DaemonSet"), ("batch/v1", "CronJob"),
                                                    ("argoproj.io/v1alpha1", "Rollout"), ("v1", "PodTemplate")])
def test_stages_find_the_pod_spec_where_the_table_says(api_version: str, kind: str) -> None:
    (res,) = load_text(_objects(api_version, kind), "w.yaml").resources
    spec_path = pod_spec_path(workloads.group_of(api_version), kind)
    assert spec_path is not None
    assert workloads.pod_spec_of(res.obj) == workloads.value_at(res.obj, spec_path)
    assert (*spec_path, "containers", 0, "securityContext") in security_fields(res.obj)
    reached = reachable_workloads([res])
    runs = kind != "PodTemplate"
    assert [w.template_path for w in reached] == ([spec_path[:-1]] if runs else [])


def test_a_look_alike_kind_of_another_group_is_not_a_workload() -> None:
    text = _objects("example.com/v1", "Deployment")
    (res,) = load_text(text, "w.yaml").resources
    assert workloads.pod_spec_of(res.obj) is None
    assert reachable_workloads([res]) == []
    assert security_fields(res.obj) == {}


def test_owners_follow_the_table_to_the_outermost_controller() -> None:
    docs = [
        "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: web, namespace: a, uid: r1}\n",
        "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: web-1, namespace: a, uid: s1, ownerReferences: "
        "[{apiVersion: argoproj.io/v1alpha1, kind: Rollout, name: web, uid: r1, controller: true}]}\n",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web-1-x, namespace: a, ownerReferences: "
        "[{apiVersion: apps/v1, kind: ReplicaSet, name: web-1, uid: s1, controller: true}]}\n",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: op, namespace: a, ownerReferences: "
        "[{apiVersion: example.com/v1, kind: ReplicaSet, name: x, controller: true}]}\n",
    ]
    found = owners(load_text("---\n".join(docs), "o.yaml").resources)
    assert {k[1:]: (v.kind, v.name) for k, v in found.items()} == {
        ("ReplicaSet", "a", "web-1"): ("Rollout", "web"), ("Pod", "a", "web-1-x"): ("Rollout", "web")}
    assert rebase(("spec", "hostPID"), "Pod", "Rollout") == ("spec", "template", "spec", "hostPID")
