"""scanner/scan.py: the whole-graph analyses run in a forked child while the policies are evaluated, with the same
findings as when they run in the kguard process after evaluation, and the kguard process makes them itself when
the child fails."""

import os
import sys
from pathlib import Path

import pytest

from scanner import scan
from scanner.load.files import load_paths
from scanner.scan import ScanOptions, scan_resources

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from generate_corpus import generate

# Work for every analysis: a staging client reaching a production API (reachability), a ServiceAccount that can
# create pods and so act as one that reads Secrets cluster-wide (RBAC escalation), and an object twice.
EXTRA = """
apiVersion: v1
kind: Namespace
metadata: {name: shop-staging, labels: {environment: staging}}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop-production, labels: {environment: production}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: client, namespace: shop-staging}
spec:
  selector: {matchLabels: {app: client}}
  template:
    metadata: {labels: {app: client}}
    spec: {containers: [{name: c, image: x}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop-production}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: c, image: x}]}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: x, namespace: a}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: ci, namespace: a}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: ci, namespace: a}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: deployer, namespace: a}
rules: [{apiGroups: [""], resources: [pods], verbs: [create]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: deployer, namespace: a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: deployer}
subjects: [{kind: ServiceAccount, name: x}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: secret-reader}
rules: [{apiGroups: [""], resources: [secrets], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ci-reads-secrets}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: secret-reader}
subjects: [{kind: ServiceAccount, name: ci, namespace: a}]
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    generate(root, 3, 6)
    (root / "extra.yaml").write_text(EXTRA)
    return load_paths([str(root)])


def _scan(corpus, monkeypatch, *, cpus: int):
    """A scan of the corpus with the analyses forked whenever possible (``cpus`` > 1); the analyses' rules and
    findings, and how many times this process ran them."""
    monkeypatch.setattr(scan, "FORKED_ANALYSES_MIN_OBJECTS", 1)
    monkeypatch.setattr(scan.forked, "processes_available", lambda: cpus)
    calls_here = []
    real = scan._analyse
    parent = os.getpid()

    def counted(*args, **kwargs):
        if os.getpid() == parent:
            calls_here.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(scan, "_analyse", counted)
    result = scan_resources(list(corpus.resources), ScanOptions(), loaded=corpus)
    return result, [f for f in result.findings if f.rule_id in _analysis_rule_ids()], len(calls_here)


def _analysis_rule_ids() -> set[str]:
    from scanner.analysis import context_analysis_rules

    return {r.id for r in context_analysis_rules()} | {"pss-namespace-level-lowered", "input-duplicate-object"}


def test_analyses_forked_meanwhile_find_what_they_find_here(corpus, monkeypatch):
    forked_result, forked_findings, forked_calls = _scan(corpus, monkeypatch, cpus=2)
    here_result, here_findings, here_calls = _scan(corpus, monkeypatch, cpus=1)
    assert (forked_calls, here_calls) == (0, 1)  # made by the child, then by this process
    assert {f.rule_id for f in here_findings} >= {"seg-reachability-cross-environment", "rbac-escalation-pod-create",
                                                 "input-duplicate-object"}  # every analysis has work
    assert forked_findings == here_findings and forked_result.findings == here_result.findings
    assert [r.id for r in forked_result.rules] == [r.id for r in here_result.rules]


def test_a_failed_analyses_child_leaves_them_to_this_process(corpus, monkeypatch):
    _, expected, _ = _scan(corpus, monkeypatch, cpus=1)
    parent = os.getpid()
    real = scan._analyse

    def fails_in_the_child(*args, **kwargs):
        if os.getpid() != parent:
            os._exit(3)
        return real(*args, **kwargs)

    monkeypatch.setattr(scan, "_analyse", fails_in_the_child)
    monkeypatch.setattr(scan, "FORKED_ANALYSES_MIN_OBJECTS", 1)
    monkeypatch.setattr(scan.forked, "processes_available", lambda: 2)
    result = scan_resources(list(corpus.resources), ScanOptions(), loaded=corpus)
    got = [f for f in result.findings if f in expected]
    assert got == expected and expected


def test_neither_small_nor_large_scans_fork_the_analyses(corpus, monkeypatch):
    started = []
    monkeypatch.setattr(scan.forked, "start", lambda work: started.append(work))
    monkeypatch.setattr(scan.forked, "processes_available", lambda: 2)
    scan_resources(list(corpus.resources), ScanOptions(), loaded=corpus)  # ~140 objects, under the threshold
    assert started == []
    monkeypatch.setattr(scan, "FORKED_ANALYSES_MIN_OBJECTS", 1)
    scan_resources(list(corpus.resources), ScanOptions(), loaded=corpus)
    assert len(started) == 1
    monkeypatch.setattr(scan, "FORKED_ANALYSES_MAX_OBJECTS", len(corpus.resources) - 1)  # memory: done here
    scan_resources(list(corpus.resources), ScanOptions(), loaded=corpus)
    assert len(started) == 1
