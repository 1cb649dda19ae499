"""Unit tests of `kguard fix`'s pieces: the Pod Security changes, the line-preserving YAML edits, JSON6902 ops."""

from __future__ import annotations

from pathlib import Path

from scanner.fix.changes import APPEND, DELETE, SET, Change
from scanner.fix.plan import _into_ops, _into_patch
from scanner.fix.pss import NON_ROOT_UID, pod_security_changes
from scanner.fix.yamledit import YamlFile, descend, splice

SPEC = ("spec", "template", "spec")


def _deployment(spec: dict) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": spec}}}


def test_restricted_changes_are_the_minimal_securitycontext() -> None:
    obj = _deployment({"containers": [{"name": "a", "image": "x"},
                                      {"name": "b", "image": "y", "securityContext": {
                                          "allowPrivilegeEscalation": False,
                                          "capabilities": {"drop": ["NET_RAW"]}}}]})
    rules = {"pss-allow-privilege-escalation", "pss-capabilities-restricted", "pss-run-as-non-root",
             "pss-seccomp-profile-restricted"}
    changes, left = pod_security_changes(obj, SPEC, rules, unsafe=False)
    got = {(c.path[3:], c.op, str(c.value)) for c in changes}
    assert got == {
        (("containers", 0, "securityContext", "allowPrivilegeEscalation"), SET, "False"),
        (("containers", 0, "securityContext", "capabilities", "drop"), APPEND, "ALL"),
        (("containers", 1, "securityContext", "capabilities", "drop"), APPEND, "ALL"),
        (("securityContext", "runAsNonRoot"), SET, "True"),
        (("securityContext", "runAsUser"), SET, str(NON_ROOT_UID)),
        (("securityContext", "seccompProfile"), SET, "{'type': 'RuntimeDefault'}"),
    }
    assert not left


def test_behaviour_changes_need_unsafe() -> None:
    obj = _deployment({"hostNetwork": True, "containers": [{"name": "a", "securityContext": {"privileged": True}}],
                       "volumes": [{"name": "host", "hostPath": {"path": "/"}}]})
    rules = {"pss-privileged", "pss-host-namespaces", "pss-host-path-volumes", "pss-allow-privilege-escalation"}
    changes, left = pod_security_changes(obj, SPEC, rules, unsafe=False)
    assert changes == []
    assert set(left) == rules  # privileged blocks allowPrivilegeEscalation: false (the API server rejects both)
    changes, left = pod_security_changes(obj, SPEC, rules, unsafe=True)
    got = {(c.path[3:], c.op) for c in changes}
    assert got == {(("hostNetwork",), SET), (("containers", 0, "securityContext", "privileged"), SET),
                   (("containers", 0, "securityContext", "allowPrivilegeEscalation"), SET),
                   (("volumes", 0, "hostPath"), DELETE), (("volumes", 0, "emptyDir"), SET)}
    assert all(c.unsafe for c in changes if c.path[-1] != "allowPrivilegeEscalation")
    assert not left


def test_unfixable_rules_are_reported() -> None:
    obj = _deployment({"containers": [{"name": "a"}], "securityContext": {"sysctls": [{"name": "kernel.x"}]}})
    changes, left = pod_security_changes(obj, SPEC, {"pss-sysctls"}, unsafe=True)
    assert changes == [] and set(left) == {"pss-sysctls"}


TEXT = """\
# leading comment
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web    # trailing comment
  labels: {app: web, tier: "front"}
spec:
  template:
    spec:
      containers:
        - name: web
          image: 'nginx:1.27'
          args: ["--a", '--b']
          command: [a-very-long-command-line-that-goes-on-and-on, with, many, arguments, that, ruamel, might, fold]
"""


def test_edit_keeps_every_untouched_line(tmp_path: Path) -> None:
    file = tmp_path / "d.yaml"
    file.write_text(TEXT, encoding="utf-8")
    edited = YamlFile(file)
    container = descend(edited.docs[0], ("spec", "template", "spec", "containers", 0), create=False)
    parent = descend(container, ("securityContext",), create=True)
    parent["allowPrivilegeEscalation"] = False
    out = edited.text()
    assert out.splitlines()[:len(TEXT.splitlines())] == TEXT.splitlines()
    assert out.splitlines()[len(TEXT.splitlines()):] == ["          securityContext:",
                                                         "            allowPrivilegeEscalation: false"]


def test_splice_places_changes_in_the_original_text() -> None:
    original = "a:   1\nb: [x]\nc: 3\n"
    before = "a: 1\nb:\n- x\nc: 3\n"  # as a YAML library re-dumps it
    after = "a: 1\nb:\n- x\nc: 3\nd: 4\n"
    assert splice(original, before, after) == "a:   1\nb: [x]\nc: 3\nd: 4\n"
    assert splice(original, before, "a: 2\nb:\n- x\nc: 3\n") is None  # 'a:   1' is not the dumped line


def test_patch_bodies_address_list_items_by_merge_key() -> None:
    obj = _deployment({"containers": [{"name": "a"}, {"name": "b", "securityContext": {
        "capabilities": {"drop": ["NET_RAW"]}}}]})
    body: dict = {}
    _into_patch(body, obj, Change(("spec", "template", "spec", "containers", 1, "securityContext", "capabilities",
                                   "drop"), APPEND, "ALL"))
    assert body == {"spec": {"template": {"spec": {"containers": [
        {"name": "b", "securityContext": {"capabilities": {"drop": ["NET_RAW", "ALL"]}}}]}}}}
    ops: list = []
    _into_ops(ops, obj, Change(("spec", "template", "spec", "containers", 1, "securityContext", "capabilities",
                                "drop"), APPEND, "ALL"))
    _into_ops(ops, obj, Change(("spec", "template", "spec", "containers", 0, "securityContext",
                                "allowPrivilegeEscalation"), SET, False))
    assert ops == [
        {"op": "add", "path": "/spec/template/spec/containers/1/securityContext/capabilities/drop/-", "value": "ALL"},
        {"op": "add", "path": "/spec/template/spec/containers/0/securityContext",
         "value": {"allowPrivilegeEscalation": False}},
    ]


NETPOL_INPUT = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: shop}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: scrape, namespace: monitoring}
spec:
  podSelector: {matchLabels: {app: prometheus}}
  egress:
  - to: [{namespaceSelector: {matchLabels: {team: shop}}}]
    ports: [{port: 9090}]
  - to: [{namespaceSelector: {}}]
"""


def test_network_policies_keep_declared_traffic() -> None:
    from scanner.fix.netpol import network_policies
    from scanner.load.files import load_text

    resources = load_text(NETPOL_INPUT, "in.yaml").resources
    by_name = {p["metadata"]["name"]: p["spec"] for p in network_policies("shop", {"Ingress"}, resources)}
    assert by_name == {
        "kguard-default-deny": {"podSelector": {}, "policyTypes": ["Ingress"]},
        "kguard-allow-web-ingress": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"],
                                     "ingress": [{"from": [{"podSelector": {}}],
                                                  "ports": [{"protocol": "TCP", "port": "http"}]}]},
        # monitoring's egress to namespaces labelled team=shop; its egress to every namespace says nothing of shop
        "kguard-allow-from-monitoring-scrape": {
            "podSelector": {}, "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                                   "podSelector": {"matchLabels": {"app": "prometheus"}}}], "ports": [{"port": 9090}]}]},
    }
    egress = {p["metadata"]["name"] for p in network_policies("shop", {"Egress"}, resources)}
    assert egress == {"kguard-default-deny", "kguard-allow-dns-egress", "kguard-allow-web-egress"}
