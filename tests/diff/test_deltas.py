"""Deltas from two sets of objects (no git): network facts do not enumerate what nothing restricts, ingress and
egress isolation changes are reported on the workload, lost permissions and changed namespace levels are blamed."""

from __future__ import annotations

from pathlib import Path

from scanner.diff.deltas import diff_facts, namespace_levels, network_facts, permission_facts
from scanner.load.files import load_paths
from scanner.model import Resource
from tests.diff.scratch import DENY_ALL, deployment, line_of

NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop-production\n  labels:\n{labels}"
INGRESS_DENY = DENY_ALL.replace("name: default-deny", "name: default-deny\n  namespace: shop-production")
EGRESS_DENY = INGRESS_DENY.replace("default-deny", "deny-egress").replace("[Ingress]", "[Egress]")
ROLE = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader, namespace: shop-production}
rules:
  - {apiGroups: [""], resources: [configmaps], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: web-reads, namespace: shop-production}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects:
  - {kind: ServiceAccount, name: web, namespace: shop-production}
"""


def objects(tmp_path: Path, name: str, *docs: str) -> list[Resource]:
    path = tmp_path / f"{name}.yaml"
    path.write_text("---\n".join(docs))
    loaded = load_paths([str(path)])
    assert not loaded.errors, loaded.errors
    return loaded.resources


def test_network_isolation_changes(tmp_path: Path) -> None:
    apps = [deployment("web", "shop-production"), deployment("db", "shop-production")]
    open_ns = objects(tmp_path, "open", *apps)
    facts = network_facts(open_ns)
    # nothing isolates: one fact per workload and direction, never every pair
    assert sorted(facts) == ["* -> Deployment shop-production/db", "* -> Deployment shop-production/web",
                             "Deployment shop-production/db -> *", "Deployment shop-production/web -> *"]
    closed = objects(tmp_path, "closed", *apps, INGRESS_DENY, EGRESS_DENY)
    deltas = diff_facts("network", facts, network_facts(closed))
    assert [(d.change, d.key) for d in deltas] == [
        ("removed", "* -> Deployment shop-production/db"), ("removed", "* -> Deployment shop-production/web"),
        ("removed", "Deployment shop-production/db -> *"), ("removed", "Deployment shop-production/web -> *")]
    assert all(d.before and d.before.location and d.before.location.path.endswith("open.yaml") for d in deltas)


def test_lost_permission_and_changed_level(tmp_path: Path) -> None:
    before = objects(tmp_path, "before", NAMESPACE.format(labels="    pod-security.kubernetes.io/enforce: restricted\n"),
                     ROLE)
    after = objects(tmp_path, "after", NAMESPACE.format(labels="    pod-security.kubernetes.io/enforce: baseline\n"))
    lost = diff_facts("permission", permission_facts(before)[0], permission_facts(after)[0])
    assert [(d.change, d.key) for d in lost] == [
        ("removed", "ServiceAccount shop-production/web: get configmaps in shop-production")]
    subject_line = line_of((tmp_path / "before.yaml").read_text(), "- {kind: ServiceAccount")
    assert lost[0].before and lost[0].before.location and lost[0].before.location.line == subject_line
    levels = diff_facts("namespace-level", namespace_levels(before, "restricted"), namespace_levels(after, "restricted"))
    assert [(d.key, d.before and d.before.value, d.after and d.after.value) for d in levels] == [
        ("Namespace shop-production", "restricted", "baseline")]
    label_line = line_of((tmp_path / "after.yaml").read_text(), "pod-security.kubernetes.io/enforce")
    assert levels[0].after and levels[0].after.location and levels[0].after.location.line == label_line
