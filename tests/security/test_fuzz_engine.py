"""Property test of the evaluation stage on type-confused Kubernetes objects (issue 11, Proof).

The loader lets through anything the API server's decoder would (any JSON type in `spec`), so every policy, the
Gatekeeper match and the whole-graph analyses must survive wrong types anywhere below `metadata`: a scan never
raises, never turns into a policy error, and never loses the canary's finding in the same run. Fixed budget,
derandomized: CI sees the same examples every run.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.load.files import load_text
from scanner.scan import ScanOptions, scan_resources

CANARY = """\
apiVersion: v1
kind: Pod
metadata: {name: canary, namespace: shop}
spec:
  containers:
  - name: c
    image: registry.example.com/c:1
    securityContext: {privileged: true}
"""
FUZZ = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
KINDS = [
    ("v1", "Pod"), ("apps/v1", "Deployment"), ("apps/v1", "DaemonSet"), ("batch/v1", "CronJob"),
    ("extensions/v1beta1", "Deployment"), ("argoproj.io/v1alpha1", "Rollout"), ("v1", "Namespace"),
    ("v1", "ServiceAccount"), ("rbac.authorization.k8s.io/v1", "Role"), ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"), ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("networking.k8s.io/v1", "NetworkPolicy"), ("v1", "Service"),
]
# Field names the policies and analyses read, so that wrong types land where they are looked at.
FIELDS = ["containers", "initContainers", "ephemeralContainers", "securityContext", "capabilities", "add", "drop",
          "privileged", "hostPath", "volumes", "hostNetwork", "hostPID", "ports", "hostPort", "template", "spec",
          "jobTemplate", "rules", "verbs", "resources", "apiGroups", "subjects", "roleRef", "kind", "name",
          "podSelector", "matchLabels", "matchExpressions", "ingress", "egress", "from", "to", "ipBlock", "cidr",
          "policyTypes", "namespaceSelector", "seccompProfile", "type", "sysctls", "os", "hostUsers", "procMount",
          "aggregationRule", "clusterRoleSelectors", "serviceAccountName", "automountServiceAccountToken", "selector"]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**31), 2**31), st.floats(allow_nan=False,
                    allow_infinity=False), st.text(max_size=8), st.sampled_from(["*", "ALL", "0.0.0.0/0", "Pod"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(FIELDS), inner, max_size=4)), max_leaves=12)


@st.composite
def confused_object(draw) -> dict:
    api_version, kind = draw(st.sampled_from(KINDS))
    meta = {"name": draw(st.sampled_from(["a", "b", "web"])),
            "labels": draw(st.dictionaries(st.sampled_from(["app", "env", "pod-security.kubernetes.io/enforce"]),
                                           st.sampled_from(["x", "privileged", "restricted", "prod"]), max_size=2))}
    if kind not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
        meta["namespace"] = draw(st.sampled_from(["shop", "other"]))
    obj = {"apiVersion": api_version, "kind": kind, "metadata": meta}
    for key in ("spec", "rules", "subjects", "roleRef", "aggregationRule"):
        if draw(st.booleans()):
            obj[key] = draw(VALUES)
    return obj


@FUZZ
@given(st.lists(confused_object(), min_size=1, max_size=5))
def test_type_confused_objects_never_break_evaluation_nor_hide_the_canary(objects: list[dict]) -> None:
    text = "---\n".join([*(json.dumps(o) + "\n" for o in objects), CANARY])
    loaded = load_text(text, "fuzz.yaml")
    result = scan_resources(loaded.resources, ScanOptions(workers=1, timeout=30), loaded=loaded)
    assert result.policy_errors == [], result.policy_errors
    line = text[:text.index(CANARY)].count("\n") + 8  # privileged: true
    canary = [f for f in result.findings if f.rule_id == "pss-privileged" and f.resource.name == "canary"
              and f.location.line == line]
    assert len(canary) == 1, [(f.rule_id, f.resource.name) for f in result.findings]
