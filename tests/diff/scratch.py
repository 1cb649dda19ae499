"""A scratch git repository with real commits: a minimal Kustomize layout (one base, staging and production
overlays) and a cluster directory with two namespaces of different environments, NetworkPolicies and RBAC."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

RESTRICTED_POD = """\
      serviceAccountName: {sa}
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        seccompProfile: {{type: RuntimeDefault}}
      containers:
        - name: app
          image: registry.example.com/{name}:1.0.0@sha256:{digest}
          ports:
            - {{containerPort: 8080, protocol: TCP}}
          resources:
            requests: {{cpu: 10m, memory: 32Mi}}
            limits: {{cpu: 100m, memory: 64Mi}}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {{drop: [ALL]}}
"""


def deployment(name: str, namespace: str | None = None, sa: str = "default") -> str:
    ns = f"\n  namespace: {namespace}" if namespace else ""
    return (f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}{ns}\n  labels: {{app: {name}}}\n"
            f"spec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n"
            f"      labels: {{app: {name}}}\n    spec:\n"
            + RESTRICTED_POD.format(sa=sa, name=name, digest="0" * 64))


DENY_ALL = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny
spec:
  podSelector: {}
  policyTypes: [Ingress]
"""

FILES: dict[str, str] = {
    "apps/base/kustomization.yaml": "resources:\n  - frontend.yaml\n  - orders.yaml\n  - netpol.yaml\n",
    "apps/base/frontend.yaml": deployment("frontend"),
    "apps/base/orders.yaml": deployment("orders"),
    "apps/base/netpol.yaml": DENY_ALL + """\
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: orders-from-frontend
spec:
  podSelector:
    matchLabels: {app: orders}
  policyTypes: [Ingress]
  ingress:
    - from:
        - podSelector:
            matchLabels: {app: frontend}
      ports:
        - {protocol: TCP, port: 8080}
""",
    "apps/overlays/staging/kustomization.yaml": "resources:\n  - ../../base\n  - namespace.yaml\n"
                                                "namespace: shop-staging\n",
    "apps/overlays/staging/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop-staging\n",
    "apps/overlays/production/kustomization.yaml": "resources:\n  - ../../base\n  - namespace.yaml\n"
                                                   "namespace: shop-production\n",
    "apps/overlays/production/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n"
                                               "  name: shop-production\n",
    "cluster/kustomization.yaml": "resources:\n  - namespaces.yaml\n  - workloads.yaml\n  - netpol.yaml\n"
                                  "  - rbac.yaml\n",
    "cluster/namespaces.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: payments-production\n"
                               "  labels: {environment: production}\n---\n"
                               "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: loadtest-staging\n"
                               "  labels: {environment: staging}\n",
    "cluster/workloads.yaml": deployment("ledger", "payments-production", sa="ledger") + "---\n"
                              + deployment("loadgen", "loadtest-staging"),
    "cluster/netpol.yaml": DENY_ALL.replace("name: default-deny", "name: default-deny\n  namespace: payments-production")
                           + "---\n" + DENY_ALL.replace("name: default-deny",
                                                        "name: default-deny\n  namespace: loadtest-staging"),
    "cluster/rbac.yaml": """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: ledger
  namespace: payments-production
automountServiceAccountToken: false
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: deployer
  namespace: payments-production
automountServiceAccountToken: false
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: impersonator
rules:
  - apiGroups: [""]
    resources: [serviceaccounts]
    verbs: [impersonate]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: secret-reader
  namespace: payments-production
rules:
  - apiGroups: [""]
    resources: [secrets]
    verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: ledger-reads-secrets
  namespace: payments-production
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: secret-reader
subjects:
  - kind: ServiceAccount
    name: ledger
    namespace: payments-production
""",
}

PRIVILEGED_PATCH = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: orders
spec:
  template:
    spec:
      containers:
        - name: app
          securityContext:
            privileged: true
"""

CROSS_NAMESPACE_POLICY = """\
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: ledger-from-loadtest
  namespace: payments-production
spec:
  podSelector:
    matchLabels: {app: ledger}
  policyTypes: [Ingress]
  ingress:
    - from:
        - namespaceSelector:
            matchLabels: {environment: staging}
      ports:
        - {protocol: TCP, port: 8080}
"""

ESCALATING_BINDING = """\
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: deployer-impersonates
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: impersonator
subjects:
  - kind: ServiceAccount
    name: deployer
    namespace: payments-production
"""


def git(repo: Path, *args: str) -> str:
    done = subprocess.run([shutil.which("git") or "git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True)
    return done.stdout.strip()


def write(repo: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def commit(repo: Path, files: dict[str, str], message: str, *, remove: tuple[str, ...] = ()) -> str:
    """Write ``files``, delete ``remove``, commit everything; the new commit's sha."""
    write(repo, files)
    for name in remove:
        (repo / name).unlink()
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def make_repo(repo: Path) -> str:
    """The scratch repository's first commit."""
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "dev@example.com")
    git(repo, "config", "user.name", "dev")
    git(repo, "config", "commit.gpgsign", "false")
    return commit(repo, FILES, "initial layout")


def line_of(text: str, needle: str, after: str = "") -> int:
    """1-based line of the first ``needle`` at or after the first ``after``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if after in line) if after else 0
    return next(i for i, line in enumerate(lines) if i >= start and needle in line) + 1
