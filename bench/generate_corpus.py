"""Generate a synthetic, realistic corpus: N namespaces x M workloads plus Services, RBAC and NetworkPolicies.

Deterministic (seeded). About 45 objects per namespace; the default 100 x 20 gives ~4,500 objects in 100 files.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import yaml

KINDS = ("Deployment", "Deployment", "Deployment", "StatefulSet", "DaemonSet", "CronJob")


def container(rng: random.Random, i: int) -> dict:
    hardened = rng.random() < 0.7
    c: dict = {
        "name": f"app-{i}",
        "image": f"registry.example.com/app-{i}:1.{rng.randint(0, 9)}.0",
        "ports": [{"name": "http", "containerPort": 8080}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
    }
    if hardened:
        c["securityContext"] = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]}}
    elif rng.random() < 0.3:
        c["securityContext"] = {"privileged": True, "capabilities": {"add": ["NET_ADMIN", "SYS_TIME"]}}
    return c


def pod_spec(rng: random.Random, name: str) -> dict:
    spec: dict = {"serviceAccountName": name, "containers": [container(rng, i) for i in range(rng.randint(1, 2))]}
    if rng.random() < 0.7:
        spec["securityContext"] = {"runAsNonRoot": True, "runAsUser": 10001,
                                   "seccompProfile": {"type": "RuntimeDefault"}}
    if rng.random() < 0.05:
        spec["hostNetwork"] = True
        spec["volumes"] = [{"name": "host", "hostPath": {"path": "/var/run"}}]
    return spec


def workload(rng: random.Random, ns: str, i: int) -> dict:
    kind = KINDS[i % len(KINDS)]
    name = f"svc-{i}"
    labels = {"app.kubernetes.io/name": name}
    template = {"metadata": {"labels": labels}, "spec": pod_spec(rng, name)}
    if kind == "CronJob":
        template["spec"]["restartPolicy"] = "OnFailure"
        spec = {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}}
        api = "batch/v1"
    else:
        spec = {"selector": {"matchLabels": labels}, "template": template}
        if kind != "DaemonSet":
            spec["replicas"] = 2
        if kind == "StatefulSet":
            spec["serviceName"] = name
        api = "apps/v1"
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": spec}


def namespace_docs(rng: random.Random, n: int, workloads: int) -> list[dict]:
    ns = f"team-{n:03d}"
    env = ("development", "staging", "production")[n % 3]
    level = "restricted" if env != "development" else "baseline"
    labels = {"environment": env, "pod-security.kubernetes.io/enforce": level}
    docs: list[dict] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}}]
    docs += [workload(rng, ns, i) for i in range(workloads)]
    for i in range(workloads // 2):
        docs.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"svc-{i}", "namespace": ns},
                     "spec": {"selector": {"app.kubernetes.io/name": f"svc-{i}"},
                              "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}})
    for i in range(5):
        docs.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": f"svc-{i}", "namespace": ns},
                     "automountServiceAccountToken": rng.random() < 0.5})
    rules = [
        [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
        [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}],
        [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}] if rng.random() < 0.2 else
        [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch"]}],
    ]
    for i, role_rules in enumerate(rules):
        docs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                     "metadata": {"name": f"role-{i}", "namespace": ns}, "rules": role_rules})
        docs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                     "metadata": {"name": f"bind-{i}", "namespace": ns},
                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"role-{i}"},
                     "subjects": [{"kind": "ServiceAccount", "name": f"svc-{i}", "namespace": ns}]})
    net = "networking.k8s.io/v1"
    docs.append({"apiVersion": net, "kind": "NetworkPolicy", "metadata": {"name": "default-deny", "namespace": ns},
                 "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}})
    docs.append({"apiVersion": net, "kind": "NetworkPolicy", "metadata": {"name": "allow-web", "namespace": ns},
                 "spec": {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "svc-0"}},
                          "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"environment": env}}}],
                                       "ports": [{"port": 8080}]}]}})
    docs.append({"apiVersion": net, "kind": "NetworkPolicy", "metadata": {"name": "allow-dns", "namespace": ns},
                 "spec": {"podSelector": {}, "policyTypes": ["Egress"],
                          "egress": [{"to": [{"namespaceSelector": {"matchLabels": {
                              "kubernetes.io/metadata.name": "kube-system"}}}],
                              "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}]}})
    return docs


def generate(out: Path, namespaces: int, workloads: int, seed: int = 7) -> int:
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    total = 0
    for n in range(namespaces):
        docs = namespace_docs(rng, n, workloads)
        total += len(docs)
        (out / f"team-{n:03d}.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    cluster = [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": "ci-admin"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"kind": "ServiceAccount", "name": "svc-0", "namespace": "team-000"}]}]
    (out / "cluster.yaml").write_text(yaml.safe_dump_all(cluster, sort_keys=False))
    return total + len(cluster)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--namespaces", type=int, default=100)
    parser.add_argument("--workloads", type=int, default=20)
    args = parser.parse_args()
    print(generate(args.out, args.namespaces, args.workloads))


if __name__ == "__main__":
    main()
