"""Benchmark `kguard audit` on a real kube-apiserver + etcd with >= 5,000 objects.

Starts the test control plane (scripts/build-control-plane.sh must have built it), creates namespaces with
Deployments, their ReplicaSets and Pods (linked by ownerReferences), Services, ServiceAccounts, NetworkPolicies,
Roles and RoleBindings, then runs `kguard audit` (default policy library) as a child process and prints
objects/second and peak RSS. Targets: >= 500 objects/s, < 500 MB.

    .venv/bin/python bench/audit_bench.py [--namespaces 30] [--per-namespace 25]
    .venv/bin/python bench/audit_bench.py --objects 20000 --record bench/results/audit-20k.json

``--objects N`` sizes the cluster (namespaces of ``--per-namespace`` Deployments) to about N objects; ``--record``
writes the figures as JSON (objects, seconds, objects/s, peak RSS, CPU seconds, load average).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fixtures.controlplane import ControlPlane, api_request, running_control_plane  # noqa: E402

TARGET_RATE = 500.0
TARGET_RSS_MB = 500.0


def _post(plane: ControlPlane, path: str, obj: dict[str, Any]) -> dict[str, Any]:
    status, body = api_request(plane.server, plane.ca_file, plane.admin_token, "POST", path, obj)
    if status != 201:
        raise RuntimeError(f"POST {path}: {status} {body.get('message', body)}")
    return body


def _pod_spec(index: int) -> dict[str, Any]:
    security = {"privileged": True} if index % 7 == 0 else {"runAsNonRoot": True, "allowPrivilegeEscalation": False}
    return {"containers": [{"name": "app", "image": f"registry.example/app:{index}", "securityContext": security,
                            "ports": [{"containerPort": 8080}]}]}


def _namespace_objects(plane: ControlPlane, ns: str, per_namespace: int) -> int:
    """Create one namespace's objects; returns how many."""
    created = 0
    apps, core = f"/apis/apps/v1/namespaces/{ns}", f"/api/v1/namespaces/{ns}"
    rbac, net = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}", f"/apis/networking.k8s.io/v1/namespaces/{ns}"
    for i in range(per_namespace):
        labels = {"app": f"svc-{i}"}
        dep = _post(plane, f"{apps}/deployments", {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": f"svc-{i}", "namespace": ns},
            "spec": {"selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": _pod_spec(i)}}})
        rs_labels = {**labels, "pod-template-hash": "5f6d"}
        rs = _post(plane, f"{apps}/replicasets", {
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
                "name": f"svc-{i}-5f6d", "namespace": ns, "ownerReferences": [_ref(dep)]},
            "spec": {"selector": {"matchLabels": rs_labels},
                     "template": {"metadata": {"labels": rs_labels}, "spec": _pod_spec(i)}}})
        for replica in range(3):
            _post(plane, f"{core}/pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {
                "name": f"svc-{i}-5f6d-{replica}", "namespace": ns, "labels": rs_labels,
                "ownerReferences": [_ref(rs)]}, "spec": _pod_spec(i)})
        # headless: the test control plane's service IP range is a /24
        _post(plane, f"{core}/services", {"apiVersion": "v1", "kind": "Service", "metadata": {
            "name": f"svc-{i}", "namespace": ns},
            "spec": {"clusterIP": "None", "selector": labels, "ports": [{"port": 80}]}})
        _post(plane, f"{core}/serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount",
                                                 "metadata": {"name": f"svc-{i}", "namespace": ns}})
        created += 7
    _post(plane, f"{net}/networkpolicies", {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                                            "metadata": {"name": "default-deny", "namespace": ns},
                                            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}})
    _post(plane, f"{rbac}/roles", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                                   "metadata": {"name": "reader", "namespace": ns},
                                   "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]})
    _post(plane, f"{rbac}/rolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "reader", "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "svc-0", "namespace": ns}]})
    return created + 3


def _ref(obj: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True}


def populate(plane: ControlPlane, namespaces: int, per_namespace: int, concurrency: int = 16) -> int:
    names = [f"bench-{i:03d}" for i in range(namespaces)]
    for ns in names:
        _post(plane, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return namespaces + sum(pool.map(lambda ns: _namespace_objects(plane, ns, per_namespace), names))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespaces", type=int, default=30)
    parser.add_argument("--per-namespace", type=int, default=25, help="Deployments per namespace (7 objects each)")
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--objects", type=int, help="about this many objects (overrides --namespaces)")
    parser.add_argument("--record", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    if args.objects:  # each namespace: itself, 7 objects per Deployment, a NetworkPolicy, a Role, a RoleBinding
        args.namespaces = max(1, math.ceil(args.objects / (args.per_namespace * 7 + 4)))

    with running_control_plane() as plane:
        started = time.perf_counter()
        created = populate(plane, args.namespaces, args.per_namespace)
        print(f"created {created} objects in {time.perf_counter() - started:.1f}s", flush=True)

        print(_listing_rate(plane, args.page_size), flush=True)

        report = plane.workdir / "audit.json"
        command = [sys.executable, "-m", "scanner", "audit", "--kubeconfig", str(plane.kubeconfig_admin),
                   "--format", "json", "--output", str(report), "--fail-on", "none", "--quiet",
                   "--page-size", str(args.page_size)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        run = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak_mb = max(before.ru_maxrss, after.ru_maxrss) / 1024
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        if run.returncode != 0:
            print(run.stderr, file=sys.stderr)
            return 1
        data = json.loads(report.read_text())
        audited = int(data["scan"]["resources"])
        rate = audited / elapsed
        print(f"audited {audited} objects in {elapsed:.2f}s: {rate:.0f} objects/s "
              f"(target >= {TARGET_RATE:.0f}); findings {len(data.get('findings', []))}; "
              f"coverage gaps {len(data['scan']['coverage'])}")
        print(f"peak RSS of the audit process: {peak_mb:.0f} MB (target < {TARGET_RSS_MB:.0f} MB)")
        print(f"CPU time of kguard (all its processes): {cpu:.1f}s = {audited / cpu:.0f} objects per CPU-second; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (the API server shares them)")
        print(f"memory: {peak_mb * 1024 / audited:.1f} KB per object at peak")
        ok = rate >= TARGET_RATE and peak_mb < TARGET_RSS_MB
        print("PASS" if ok else "FAIL")
        if args.record:
            args.record.parent.mkdir(parents=True, exist_ok=True)
            args.record.write_text(json.dumps({
                "objects": audited, "seconds": round(elapsed, 2), "objects_per_second": round(rate),
                "peak_rss_mb": round(peak_mb), "cpu_seconds": round(cpu, 1),
                "objects_per_cpu_second": round(audited / cpu), "findings": len(data.get("findings", [])),
                "coverage_gaps": len(data["scan"]["coverage"]), "load_average": round(os.getloadavg()[0], 1),
                "cpus": os.cpu_count(), "pass": ok}, indent=2) + "\n")
        return 0 if ok else 1


def _listing_rate(plane: ControlPlane, page_size: int) -> str:
    """The read phase alone (discovery + paginated lists + normalisation), in this process."""
    from scanner.cluster.client import connect
    from scanner.cluster.read import ReadOptions, read_cluster

    client = connect(kubeconfig=str(plane.kubeconfig_admin))
    started = time.perf_counter()
    snapshot = read_cluster(client, set(), ReadOptions(page_size=page_size))
    elapsed = time.perf_counter() - started
    return (f"listing only: {len(snapshot.resources)} objects in {elapsed:.2f}s "
            f"({len(snapshot.resources) / elapsed:.0f} objects/s, {snapshot.requests} requests)")


if __name__ == "__main__":
    raise SystemExit(main())
