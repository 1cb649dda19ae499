"""Benchmark the `kguard` pre-commit hook: one staged plain manifest, warm, as the hook runs it.

Usage: python bench/precommit_bench.py [--repeat 10] [--record FILE]

Runs `kguard scan --fail-on high <file>` (the `entry` of .pre-commit-hooks.yaml, through the installed console
script) as a real process, twice over:

- standalone: a ~5-object manifest in a directory that is no repository (no context: the rules that judge an
  object by others are listed as not evaluated);
- repository: the same file in a small git repository (a `.kguard.yaml`, a Namespace, NetworkPolicies and RBAC in
  other files), which the hook loads as context.

Every scenario runs once unmeasured (warm: compiled modules, page cache and the user cache directory), then
``--repeat`` times. Prints the best and median wall time, user CPU and user+system CPU (the process and any worker
it forked) of each, and the exit codes. Wall time is noisy on a shared machine; CPU time is the steadier figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

KGUARD = shutil.which("kguard", path=str(Path(sys.executable).parent)) or "kguard"
APP = "shop-web"

MANIFEST = [
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "web", "namespace": APP},
     "automountServiceAccountToken": False},
    {"apiVersion": "apps/v1", "kind": "Deployment",
     "metadata": {"name": "web", "namespace": APP, "labels": {"app": "web"}},
     "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
              "template": {"metadata": {"labels": {"app": "web"}},
                           "spec": {"serviceAccountName": "web",
                                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001,
                                                        "seccompProfile": {"type": "RuntimeDefault"}},
                                    "containers": [{"name": "web", "image": "registry.example.com/web:1.4.2",
                                                    "ports": [{"name": "http", "containerPort": 8080}],
                                                    "securityContext": {"allowPrivilegeEscalation": False,
                                                                        "readOnlyRootFilesystem": True,
                                                                        "capabilities": {"drop": ["ALL"]}}}]}}}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": APP},
     "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web", "namespace": APP},
     "data": {"LOG_LEVEL": "info"}},
    {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "web", "namespace": APP},
     "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"],
              "ingress": [{"ports": [{"port": 8080}]}]}},
]

CONTEXT = {
    ".kguard.yaml": "exclude: [tests]\nfailOn: high\n",
    "deploy/namespace.yaml": [
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": APP, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}},
    ],
    "deploy/network.yaml": [
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "default-deny", "namespace": APP},
         "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}},
    ],
    "deploy/rbac.yaml": [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "read", "namespace": APP},
         "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "read", "namespace": APP},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read"},
         "subjects": [{"kind": "ServiceAccount", "name": "web", "namespace": APP}]},
    ],
}


def write(path: Path, content: str | list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else yaml.safe_dump_all(content, sort_keys=False))


def standalone(root: Path) -> tuple[Path, str]:
    """A directory that is no repository, with the one manifest."""
    write(root / "web.yaml", MANIFEST)
    return root, "web.yaml"


def repository(root: Path) -> tuple[Path, str]:
    """A small git repository: the manifest (staged) and the context files (committed)."""
    for name, content in CONTEXT.items():
        write(root / name, content)
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=root, check=True, env=env)
    subprocess.run([*git, "add", "-A"], cwd=root, check=True, env=env)
    subprocess.run([*git, "commit", "-q", "-m", "context"], cwd=root, check=True, env=env)
    write(root / "deploy/web.yaml", MANIFEST)
    subprocess.run([*git, "add", "deploy/web.yaml"], cwd=root, check=True, env=env)
    return root, "deploy/web.yaml"


def run_once(cwd: Path, file: str) -> tuple[float, float, float, int]:
    """(wall, user CPU, user+system CPU) seconds of one hook run (its children included) and its exit code."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # warm: compiled modules cached
    started = time.perf_counter()
    process = subprocess.Popen([KGUARD, "scan", "--fail-on", "high", file], cwd=cwd, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime, usage.ru_utime + usage.ru_stime, process.returncode


def measure(cwd: Path, file: str, repeat: int) -> dict[str, object]:
    run_once(cwd, file)  # warm-up
    runs = [run_once(cwd, file) for _ in range(repeat)]
    out: dict[str, object] = {}
    for index, name in enumerate(("wall", "user", "cpu")):
        values = [run[index] for run in runs]
        out[f"{name}_best"] = round(min(values), 3)
        out[f"{name}_median"] = round(statistics.median(values), 3)
    return {**out, "exit_codes": sorted({run[3] for run in runs}), "runs": repeat}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--record", type=Path, help="also write the result as JSON here")
    args = parser.parse_args()
    result: dict[str, object] = {"command": "kguard scan --fail-on high FILE", "objects": len(MANIFEST),
                                 "load_average": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory() as tmp:
        for name, setup in (("standalone", standalone), ("repository", repository)):
            cwd, file = setup(Path(tmp) / name)
            result[name] = measure(cwd, file, args.repeat)
    text = json.dumps(result, indent=2)
    print(text)
    if args.record:
        args.record.write_text(text + "\n")


if __name__ == "__main__":
    main()
