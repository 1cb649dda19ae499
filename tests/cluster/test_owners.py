"""Controller ownership: findings on controller-made objects are reported once at the outermost workload."""

from __future__ import annotations

from scanner.cluster.owners import collapse, controller_ref, owners, rebase, top_owner
from scanner.model import Finding, Location, Resource, ResourceId, Severity


def _obj(api_version: str, kind: str, name: str, uid: str, owner: tuple[str, str, str, str] | None = None,
         namespace: str = "shop") -> Resource:
    meta: dict = {"name": name, "namespace": namespace, "uid": uid}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": owner[0], "kind": owner[1], "name": owner[2], "uid": owner[3],
                                    "controller": True}]
    return Resource(obj={"apiVersion": api_version, "kind": kind, "metadata": meta},
                    path=f"cluster/ctx/{namespace}/{kind}/{name}.yaml", origin="cluster")


DEPLOY = _obj("apps/v1", "Deployment", "web", "u-dep")
RS = _obj("apps/v1", "ReplicaSet", "web-5d8f", "u-rs", ("apps/v1", "Deployment", "web", "u-dep"))
POD_A = _obj("v1", "Pod", "web-5d8f-a", "u-pa", ("apps/v1", "ReplicaSet", "web-5d8f", "u-rs"))
POD_B = _obj("v1", "Pod", "web-5d8f-b", "u-pb", ("apps/v1", "ReplicaSet", "web-5d8f", "u-rs"))
CRON = _obj("batch/v1", "CronJob", "nightly", "u-cj")
JOB = _obj("batch/v1", "Job", "nightly-1", "u-job", ("batch/v1", "CronJob", "nightly", "u-cj"))
JOB_POD = _obj("v1", "Pod", "nightly-1-x", "u-jp", ("batch/v1", "Job", "nightly-1", "u-job"))
STANDALONE = _obj("v1", "Pod", "debug", "u-dbg")
MIRROR = _obj("v1", "Pod", "etcd-node1", "u-m", ("v1", "Node", "node1", "u-node"))
ALL = [DEPLOY, RS, POD_A, POD_B, CRON, JOB, JOB_POD, STANDALONE, MIRROR]


def test_controller_ref_needs_controller_true() -> None:
    obj = {"metadata": {"ownerReferences": [{"kind": "ReplicaSet", "name": "x"},
                                            {"kind": "Job", "name": "y", "controller": True}]}}
    assert controller_ref(obj)["name"] == "y"
    assert controller_ref({"metadata": {"ownerReferences": [{"kind": "ReplicaSet", "name": "x"}]}}) is None


def test_pods_resolve_through_replicaset_to_deployment_and_job_to_cronjob() -> None:
    resolved = owners(ALL)
    assert resolved[POD_A.identity.key] == DEPLOY.identity
    assert resolved[RS.identity.key] == DEPLOY.identity
    assert resolved[JOB_POD.identity.key] == CRON.identity
    assert STANDALONE.identity.key not in resolved
    assert MIRROR.identity.key not in resolved  # a Node is no workload controller
    assert DEPLOY.identity.key not in resolved


def test_owner_that_was_not_read_still_counts_by_reference() -> None:
    index = {POD_A.identity.key: POD_A}  # the ReplicaSet could not be listed
    assert top_owner(POD_A, index) == ResourceId(api_version="apps/v1", kind="ReplicaSet", name="web-5d8f",
                                                 namespace="shop")


def test_unreadable_replicaset_resolves_by_pod_template_hash() -> None:
    pod = _obj("v1", "Pod", "web-5d8f-c", "u-pc", ("apps/v1", "ReplicaSet", "web-5d8f", "u-rs"))
    pod.obj["metadata"]["labels"] = {"pod-template-hash": "5d8f"}
    index = {r.identity.key: r for r in (pod, DEPLOY)}  # ReplicaSets forbidden
    assert top_owner(pod, index) == DEPLOY.identity
    pod.obj["metadata"]["labels"] = {"pod-template-hash": "zzzz"}
    assert top_owner(pod, index).kind == "ReplicaSet"


def test_uid_mismatch_stops_at_the_reference() -> None:
    impostor = _obj("apps/v1", "ReplicaSet", "web-5d8f", "other-uid", ("apps/v1", "Deployment", "web", "u-dep"))
    index = {r.identity.key: r for r in (impostor, DEPLOY, POD_A)}
    assert top_owner(POD_A, index).kind == "ReplicaSet"


def test_rebase_moves_pod_paths_into_the_template() -> None:
    path = ("spec", "containers", 0, "securityContext", "privileged")
    assert rebase(path, "Pod", "Deployment") == ("spec", "template", *path)
    assert rebase(path, "Pod", "CronJob") == ("spec", "jobTemplate", "spec", "template", *path)
    assert rebase(("spec", "template", "spec", "hostPID"), "ReplicaSet", "Deployment") == (
        "spec", "template", "spec", "hostPID")
    assert rebase(("spec", "template", "spec"), "Job", "CronJob") == ("spec", "jobTemplate", "spec", "template", "spec")


def _finding(res: Resource, rule: str, msg: str, path: tuple = ()) -> Finding:
    return Finding(rule_id=rule, severity=Severity.HIGH, category="pod-security", tags=(), message=msg,
                   resource=res.identity, location=Location(path=res.path, line=1, column=1, end_line=1,
                                                            end_column=1),
                   field_path=path, constraint=f"K/{rule}", fingerprint=f"{rule}-{res.name}")


def test_collapse_reports_once_at_the_owner() -> None:
    locations = {r.identity.key: Location(path=r.path, line=1, column=1, end_line=1, end_column=1) for r in ALL}
    pod_path = ("spec", "containers", 0, "securityContext")
    findings = [
        _finding(DEPLOY, "privileged", "web privileged", ("spec", "template", *pod_path)),
        _finding(RS, "privileged", "rs privileged"),
        _finding(POD_A, "privileged", "pod a privileged", pod_path),
        _finding(POD_B, "privileged", "pod b privileged", pod_path),
        _finding(POD_A, "host-ports", "pod a host port", ("spec", "containers", 0, "ports")),
        _finding(POD_B, "host-ports", "pod b host port", ("spec", "containers", 0, "ports")),
        _finding(STANDALONE, "privileged", "debug privileged", pod_path),
    ]
    out = collapse(findings, owners(ALL), locations)
    by_rule = sorted((f.rule_id, f.resource.kind, f.resource.name) for f in out)
    assert by_rule == [("host-ports", "Deployment", "web"), ("privileged", "Deployment", "web"),
                       ("privileged", "Pod", "debug")]
    moved = next(f for f in out if f.rule_id == "host-ports")
    assert moved.location.path == DEPLOY.path
    assert moved.field_path == ("spec", "template", "spec", "containers", 0, "ports")
    assert "Pod web-5d8f-a and 1 more" in moved.message
