"""Benchmark `kguard audit` on a real kube-apiserver + etcd with >= 5,000 objects.

Starts the test control plane (scripts/build-control-plane.sh must have built it), creates namespaces with
Deployments, their ReplicaSets and Pods (linked by ownerReferences), Services, ServiceAccounts, NetworkPolicies,
Roles and RoleBindings, then runs `kguard audit` (default policy library) as a child process and prints
objects/second and peak memory: RSS of the largest process and PSS summed over kguard and its workers (sampled
every 20 ms, as bench/scale_bench.py does). Targets (issue 16): >= 2,000 objects/s, < 300 MB.

    .venv/bin/python bench/audit_bench.py [--namespaces 30] [--per-namespace 25]
    .venv/bin/python bench/audit_bench.py --objects 20000 --record bench/results/audit-20k.json
    .venv/bin/python bench/audit_bench.py --objects 20000 --source /tmp/before --source .   # before/after

``--objects N`` sizes the cluster (namespaces of ``--per-namespace`` Deployments) to about N objects; ``--record``
writes the figures as JSON (objects, seconds, objects/s, peak memory, CPU seconds, load average). ``--source DIR``
(repeatable) audits the same cluster with the kguard of each checkout in turn (default: the installed one), each
with its ``--python`` if given (a venv with that checkout's dependencies). ``--reports nightly`` writes what the
nightly audit workflow writes (SARIF to ``--output`` and every format with ``--report-dir``) instead of one JSON file.
"""

from __future__ import annotations

import argparse
import hashlib
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

sys.path.insert(0, str(REPO / "bench"))
from scale_bench import _pss_kb, _tree  # noqa: E402

TARGET_RATE = 2000.0
TARGET_MB = 300.0


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
    parser.add_argument("--source", type=Path, action="append",
                        help="audit with the kguard of this checkout (repeatable; default: the installed one)")
    parser.add_argument("--python", type=Path, action="append",
                        help="the Python (venv) to run each --source with, in the same order (default: this one)")
    parser.add_argument("--reports", choices=("json", "nightly"), default="json",
                        help="json: one JSON report; nightly: SARIF plus --report-dir, as docs/ci.md's nightly audit")
    args = parser.parse_args()
    if args.objects:  # each namespace: itself, 7 objects per Deployment, a NetworkPolicy, a Role, a RoleBinding
        args.namespaces = max(1, math.ceil(args.objects / (args.per_namespace * 7 + 4)))

    with running_control_plane() as plane:
        started = time.perf_counter()
        created = populate(plane, args.namespaces, args.per_namespace)
        print(f"created {created} objects in {time.perf_counter() - started:.1f}s", flush=True)

        print(_listing_rate(plane, args.page_size), flush=True)

        pythons = args.python or [Path(sys.executable)] * len(args.source or [None])
        if len(pythons) != len(args.source or [None]):
            raise SystemExit("give one --python per --source")
        results = [_audit(plane, args.page_size, source, python, args.reports)
                   for source, python in zip(args.source or [None], pythons, strict=True)]
        if args.record:
            args.record.parent.mkdir(parents=True, exist_ok=True)
            record = results[0] if len(results) == 1 else results
            args.record.write_text(json.dumps(record, indent=2) + "\n")
        return 0 if all(r["pass"] for r in results) else 1


def _audit(plane: ControlPlane, page_size: int, source: Path | None, python: Path,
           reports: str = "json") -> dict[str, Any]:
    """One `kguard audit` of the populated cluster (the kguard of checkout ``source``, else the installed one)."""
    report = plane.workdir / "audit.json"
    written = ["--format", "json", "--output", str(report)]
    if reports == "nightly":
        report = plane.workdir / "audit-reports" / "kguard.json"
        written = ["--format", "sarif", "--output", str(plane.workdir / "audit.sarif"),
                   "--report-dir", str(report.parent)]
    command = [str(python), "-m", "scanner", "audit", "--kubeconfig", str(plane.kubeconfig_admin), *written,
               "--fail-on", "none", "--quiet", "--page-size", str(page_size)]
    env = {**os.environ, "PYTHONPATH": str(source.resolve())} if source else None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    errors = plane.workdir / "audit.stderr"
    with errors.open("w") as stderr_file:
        process = subprocess.Popen(command, cwd=source or REPO, stdout=subprocess.DEVNULL, stderr=stderr_file,
                                   env=env)
        peak_pss = 0
        while process.poll() is None:
            peak_pss = max(peak_pss, sum(_pss_kb(p) for p in _tree(process.pid)))
            time.sleep(0.02)
    stderr = errors.read_text()
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_mb = max(before.ru_maxrss, after.ru_maxrss) / 1024
    pss_mb = peak_pss / 1024
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if process.returncode != 0:
        raise SystemExit(f"kguard audit ({source or 'installed'}) exited {process.returncode}: {stderr}")
    data = json.loads(report.read_text())
    audited = int(data["scan"]["resources"])
    rate = audited / elapsed
    print(f"[{source or 'installed'}] audited {audited} objects in {elapsed:.2f}s: {rate:.0f} objects/s "
          f"(target >= {TARGET_RATE:.0f}); findings {len(data.get('findings', []))}; "
          f"coverage gaps {len(data['scan']['coverage'])}")
    print(f"peak memory: RSS of the largest process {peak_mb:.0f} MB, PSS summed over kguard and its workers "
          f"{pss_mb:.0f} MB (target < {TARGET_MB:.0f} MB)")
    print(f"CPU time of kguard (all its processes): {cpu:.1f}s = {audited / cpu:.0f} objects per CPU-second; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (the API server shares them)")
    ok = rate >= TARGET_RATE and pss_mb < TARGET_MB
    print("PASS" if ok else "FAIL", flush=True)
    return {"source": str(source) if source else "installed", "reports": reports, "objects": audited,
            "seconds": round(elapsed, 2),
            "objects_per_second": round(rate), "peak_rss_mb": round(peak_mb), "peak_pss_mb": round(pss_mb),
            "cpu_seconds": round(cpu, 1), "objects_per_cpu_second": round(audited / cpu),
            "findings": len(data.get("findings", [])),
            "findings_sha256": hashlib.sha256(json.dumps(data.get("findings", []), sort_keys=True).encode()
                                              ).hexdigest(),
            "coverage_gaps": len(data["scan"]["coverage"]), "load_average": round(os.getloadavg()[0], 1),
            "cpus": os.cpu_count(), "pass": ok}


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
