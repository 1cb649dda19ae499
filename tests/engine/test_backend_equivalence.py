"""The embedded regorus backend and the OPA server (the reference) give identical findings.

Compared on every case of every policy suite under `policies/` (finding tuples from `evaluate`, and the per-case
results of `kguard verify`, each case with its own `data.inventory`), and on a generated corpus of a few hundred
varied objects scanned with the whole default policy set.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from scanner.engine.evaluate import evaluate
from scanner.engine.opa_backend import OpaBackend
from scanner.engine.regorus_backend import RegorusBackend
from scanner.engine.templates import TemplateSet, parse_constraint, parse_template, rule_for_template
from scanner.load.files import load_file, load_text
from scanner.model import Finding
from scanner.scan import ScanOptions, scan_resources
from scanner.verify import find_suites, verify

REPO = Path(__file__).resolve().parents[2]
POLICIES = REPO / "policies"

pytestmark = pytest.mark.integration


def finding_tuple(f: Finding) -> tuple[Any, ...]:
    loc = f.location
    return (f.rule_id, f.constraint, f.severity.label, f.resource.display(), f.field_path, f.message, loc.path,
            loc.line, loc.column, loc.end_line, loc.end_column, f.fingerprint,
            tuple((r.resource.display(), r.message) for r in f.related))


# -- policy suites --------------------------------------------------------------------------------------------


def _suite_tests() -> list[tuple[Path, dict[str, Any]]]:
    tests = []
    for file, suite in find_suites([str(POLICIES) + "/..."]):
        for test in suite.get("tests") or []:
            tests.append((file, test))
    return tests


SUITE_TESTS = _suite_tests()


def test_every_policy_has_a_suite() -> None:
    policies = sorted(p.parent for p in POLICIES.glob("*/*/policy.rego"))
    suites = {file.parent for file, _ in SUITE_TESTS}
    assert policies, "no policies found"
    assert [p for p in policies if p not in suites] == []


def _load_template(file: Path, test: dict[str, Any]) -> TemplateSet:
    base = file.parent
    tpl_obj = load_file(base / test["template"]).resources[0].obj
    template = parse_template(tpl_obj, source=str(test["template"]))
    template = type(template)(**{**{k: getattr(template, k) for k in template.__dataclass_fields__},
                                 "rule": rule_for_template(template, tpl_obj)})
    templates = TemplateSet()
    templates.add(template, [parse_constraint(load_file(base / test["constraint"]).resources[0].obj, template)])
    return templates


def _as_shipped(templates: TemplateSet) -> TemplateSet:
    """``templates`` marked as kguard's own library (`Template.trusted`): regorus evaluates them with its RVM."""
    return TemplateSet({kind: replace(t, trusted=True) for kind, t in templates.templates.items()},
                       list(templates.constraints))


def _case_resources(base: Path, case: dict[str, Any]) -> list:
    """The case object (an AdmissionReview's object) and its inventory objects, as scanned resources."""
    resources = []
    for relative in [case["object"], *(case.get("inventory") or [])]:
        for res in load_file(base / relative).resources:
            if res.kind == "AdmissionReview":
                request = res.obj.get("request") or {}
                res = load_text(yaml.safe_dump(request.get("object") or request.get("oldObject")), res.path).resources[0]
            resources.append(res)
    return resources


def _expects_violations(case: dict[str, Any]) -> bool:
    return any(a.get("violations", "yes") not in ("no", False, 0) for a in case.get("assertions") or [])


@pytest.fixture(scope="module")
def opa_backend(opa_on_path: None) -> Iterator[OpaBackend]:
    backend = OpaBackend()
    yield backend
    backend.close()


@pytest.mark.parametrize(("file", "test"), SUITE_TESTS,
                         ids=[f"{f.parent.relative_to(POLICIES)}::{t.get('name')}" for f, t in SUITE_TESTS])
def test_suite_cases_give_identical_findings(file: Path, test: dict[str, Any], opa_backend: OpaBackend) -> None:
    """Each case on its own: the case object plus exactly its inventory, like gator verify."""
    templates = _load_template(file, test)
    shipped = _as_shipped(templates)  # evaluated as the library kguard ships is: on regorus' virtual machine
    compared = with_findings = 0
    for case in test.get("cases") or []:
        resources = _case_resources(file.parent, case)
        runs = []
        for backend, judged in ((RegorusBackend(), templates), (RegorusBackend(), shipped)):
            try:
                runs.append(evaluate(resources, judged, backend, timeout=30))
                assert (backend._trusted and backend.vm) == (judged is shipped)
                assert all(shared.program is not None for shared in backend._shared) or judged is templates
            finally:
                backend.close()
        regorus_run, vm_run = runs
        opa_run = evaluate(resources, templates, opa_backend, timeout=30)
        assert regorus_run.errors == [] and opa_run.errors == [] and vm_run.errors == [], case["name"]
        assert [finding_tuple(f) for f in opa_run.findings] == [finding_tuple(f) for f in regorus_run.findings], \
            case["name"]
        assert [finding_tuple(f) for f in opa_run.findings] == [finding_tuple(f) for f in vm_run.findings], \
            case["name"]
        compared += 1
        with_findings += bool(regorus_run.findings)
    assert compared == len(test.get("cases") or []) > 0
    assert with_findings >= sum(map(_expects_violations, test["cases"])) > 0  # the comparison is not vacuous


def _case_results(engine: str) -> dict[tuple[str, str, str], tuple[str, list[tuple[str, str]]]]:
    out = {}
    for suite in verify([str(POLICIES) + "/..."], engine=engine, timeout=30):
        for test in suite.tests:
            for case in test.cases:
                results = sorted((r["msg"], yaml.safe_dump(r["details"], sort_keys=True)) for r in case.results)
                out[(suite.path, test.name, case.name)] = (case.status, results)
    return out


def test_verify_gives_identical_results_per_suite_case(opa_on_path: None) -> None:
    regorus_cases = _case_results("regorus")
    opa_cases = _case_results("opa")
    total = sum(len(t.get("cases") or []) for _, t in SUITE_TESTS)
    assert len(regorus_cases) == total  # no case is left out
    assert {k: v[0] for k, v in regorus_cases.items() if v[0] != "PASS"} == {}
    assert opa_cases == regorus_cases


# -- generated corpus -----------------------------------------------------------------------------------------

CAPS = ["NET_ADMIN", "SYS_ADMIN", "NET_BIND_SERVICE", "CHOWN", "ALL", "SYS_TIME", "KILL", "AUDIT_WRITE"]
VERBS = ["get", "list", "watch", "create", "update", "patch", "delete", "*", "escalate", "bind", "impersonate"]
RESOURCES = ["pods", "secrets", "configmaps", "deployments", "pods/exec", "pods/attach", "pods/portforward",
             "nodes/proxy", "serviceaccounts/token", "serviceaccounts", "*", "roles", "clusterroles", "jobs"]
GROUPS = ["", "apps", "batch", "rbac.authorization.k8s.io", "*"]


def _maybe(rng: random.Random, p: float = 0.5) -> bool:
    return rng.random() < p


def _security_context(rng: random.Random) -> dict[str, Any]:
    sc: dict[str, Any] = {}
    if _maybe(rng, 0.2):
        sc["privileged"] = _maybe(rng)
    if _maybe(rng, 0.5):
        sc["allowPrivilegeEscalation"] = _maybe(rng, 0.3)
    if _maybe(rng, 0.5):
        sc["runAsNonRoot"] = _maybe(rng, 0.7)
    if _maybe(rng, 0.3):
        sc["runAsUser"] = rng.choice([0, 1000, 65534])
    if _maybe(rng, 0.5):
        caps: dict[str, Any] = {}
        if _maybe(rng):
            caps["drop"] = rng.sample(["ALL", "NET_RAW", "CHOWN"], rng.randint(1, 2))
        if _maybe(rng, 0.4):
            caps["add"] = rng.sample(CAPS, rng.randint(1, 2))
        sc["capabilities"] = caps
    if _maybe(rng, 0.4):
        sc["seccompProfile"] = {"type": rng.choice(["RuntimeDefault", "Unconfined", "Localhost"])}
        if sc["seccompProfile"]["type"] == "Localhost":
            sc["seccompProfile"]["localhostProfile"] = "profiles/audit.json"
    if _maybe(rng, 0.1):
        sc["procMount"] = rng.choice(["Default", "Unmasked"])
    if _maybe(rng, 0.1):
        sc["seLinuxOptions"] = {"type": rng.choice(["container_t", "spc_t"]), "user": rng.choice(["", "root"])}
    if _maybe(rng, 0.1):
        sc["appArmorProfile"] = {"type": rng.choice(["RuntimeDefault", "Unconfined"])}
    if _maybe(rng, 0.05):
        sc["windowsOptions"] = {"hostProcess": True}
    return sc


def _pod_spec(rng: random.Random, labels: dict[str, str]) -> dict[str, Any]:
    containers = []
    for c in range(rng.randint(1, 3)):
        container: dict[str, Any] = {"name": f"c{c}", "image": f"registry.example/app{c}:1.{rng.randint(0, 9)}"}
        if _maybe(rng, 0.8):
            container["securityContext"] = _security_context(rng)
        if _maybe(rng, 0.15):
            container["ports"] = [{"containerPort": 8080, "hostPort": rng.choice([80, 8080, 0])}]
        if _maybe(rng, 0.1):
            container["livenessProbe"] = {"httpGet": {"path": "/", "port": 8080,
                                                       "host": rng.choice(["", "10.0.0.1"])}}
        containers.append(container)
    spec: dict[str, Any] = {"containers": containers}
    if _maybe(rng, 0.2):
        spec["initContainers"] = [{"name": "init", "image": "busybox", "securityContext": _security_context(rng)}]
    if _maybe(rng, 0.6):
        spec["securityContext"] = {k: v for k, v in _security_context(rng).items()
                                   if k in ("runAsNonRoot", "runAsUser", "seccompProfile", "seLinuxOptions",
                                            "appArmorProfile", "windowsOptions")}
        if _maybe(rng, 0.1):
            spec["securityContext"]["sysctls"] = [{"name": rng.choice(["net.ipv4.ip_forward",
                                                                      "kernel.shm_rmid_forced"]), "value": "1"}]
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if _maybe(rng, 0.05):
            spec[flag] = True
    if _maybe(rng, 0.3):
        spec["volumes"] = [rng.choice([{"name": "data", "emptyDir": {}},
                                       {"name": "host", "hostPath": {"path": "/var/log"}},
                                       {"name": "cfg", "configMap": {"name": "cfg"}},
                                       {"name": "nfs", "nfs": {"server": "nfs", "path": "/x"}}])]
    if _maybe(rng, 0.3):
        spec["automountServiceAccountToken"] = _maybe(rng)
    if _maybe(rng, 0.5):
        spec["serviceAccountName"] = rng.choice(["default", "app", "ops"])
    if _maybe(rng, 0.05):
        spec["os"] = {"name": "windows"}
    return spec


def _workload(rng: random.Random, index: int, namespace: str) -> dict[str, Any]:
    labels = {"app": f"app{index % 7}", "tier": rng.choice(["web", "db", "cache"])}
    kind = rng.choice(["Pod", "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet"])
    meta: dict[str, Any] = {"name": f"w{index}", "namespace": namespace, "labels": labels}
    spec = _pod_spec(rng, labels)
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
    template = {"metadata": {"labels": labels}, "spec": spec}
    if kind == "Job":
        return {"apiVersion": "batch/v1", "kind": kind, "metadata": meta, "spec": {"template": template}}
    if kind == "CronJob":
        return {"apiVersion": "batch/v1", "kind": kind, "metadata": meta,
                "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}}}
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": meta,
            "spec": {"selector": {"matchLabels": labels}, "template": template}}


def _rules(rng: random.Random) -> list[dict[str, Any]]:
    return [{"apiGroups": rng.sample(GROUPS, rng.randint(1, 2)), "resources": rng.sample(RESOURCES, rng.randint(1, 3)),
             "verbs": rng.sample(VERBS, rng.randint(1, 3))} for _ in range(rng.randint(1, 3))]


def _rbac(rng: random.Random, index: int, namespaces: list[str]) -> list[dict[str, Any]]:
    namespace = rng.choice(namespaces)
    rbac = "rbac.authorization.k8s.io/v1"
    subjects = rng.sample([
        {"kind": "ServiceAccount", "name": "default", "namespace": namespace},
        {"kind": "ServiceAccount", "name": "app", "namespace": namespace},
        {"kind": "Group", "name": "system:authenticated", "apiGroup": "rbac.authorization.k8s.io"},
        {"kind": "User", "name": "system:anonymous", "apiGroup": "rbac.authorization.k8s.io"},
        {"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"},
    ], rng.randint(1, 2))
    if _maybe(rng):
        role = {"apiVersion": rbac, "kind": "Role", "metadata": {"name": f"r{index}", "namespace": namespace},
                "rules": _rules(rng)}
        binding = {"apiVersion": rbac, "kind": "RoleBinding",
                   "metadata": {"name": f"rb{index}", "namespace": namespace}, "subjects": subjects,
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"r{index}"}}
        return [role, binding]
    role_name = rng.choice([f"cr{index}", "cluster-admin", "edit", "view"])
    objs = []
    if role_name == f"cr{index}":
        objs.append({"apiVersion": rbac, "kind": "ClusterRole", "metadata": {"name": role_name}, "rules": _rules(rng)})
    if _maybe(rng):
        objs.append({"apiVersion": rbac, "kind": "ClusterRoleBinding", "metadata": {"name": f"crb{index}"},
                     "subjects": subjects,
                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name}})
    else:
        objs.append({"apiVersion": rbac, "kind": "RoleBinding", "metadata": {"name": f"rb{index}",
                                                                              "namespace": namespace},
                     "subjects": subjects,
                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name}})
    return objs


def _peer(rng: random.Random, namespaces: list[str]) -> dict[str, Any]:
    return rng.choice([
        {"podSelector": {"matchLabels": {"app": f"app{rng.randint(0, 6)}"}}},
        {"namespaceSelector": {}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": rng.choice(namespaces)}}},
        {"namespaceSelector": {"matchLabels": {"env": rng.choice(["dev", "staging", "prod"])}}},
        {"ipBlock": {"cidr": rng.choice(["0.0.0.0/0", "10.0.0.0/8", "192.168.1.0/24"])}},
    ])


def _netpol(rng: random.Random, index: int, namespace: str, namespaces: list[str]) -> dict[str, Any]:
    selector: dict[str, Any] = rng.choice([{}, {"matchLabels": {"app": f"app{rng.randint(0, 6)}"}},
                                           {"matchExpressions": [{"key": "tier", "operator": "In",
                                                                  "values": ["web", "db"]}]}])
    types = rng.choice([["Ingress"], ["Egress"], ["Ingress", "Egress"]])
    spec: dict[str, Any] = {"podSelector": selector, "policyTypes": types}
    if "Ingress" in types and _maybe(rng, 0.7):
        spec["ingress"] = [rng.choice([{}, {"from": [_peer(rng, namespaces)]}])]
    if "Egress" in types and _maybe(rng, 0.7):
        rule: dict[str, Any] = {"to": [_peer(rng, namespaces)]}
        if _maybe(rng):
            rule["ports"] = [{"protocol": rng.choice(["UDP", "TCP"]), "port": rng.choice([53, 443])}]
        spec["egress"] = [rng.choice([{}, rule])]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": f"np{index}", "namespace": namespace}, "spec": spec}


def generate_corpus(seed: int = 7, workloads: int = 240, rbac: int = 60, netpols: int = 40) -> list[dict[str, Any]]:
    """A reproducible mix of namespaces, workloads, RBAC and NetworkPolicies (a few hundred objects)."""
    rng = random.Random(seed)
    namespaces = [f"shop-{env}-{i}" for env in ("dev", "staging", "prod") for i in range(3)]
    objects: list[dict[str, Any]] = []
    for name in namespaces:
        labels = {"env": name.split("-")[1]}
        if _maybe(rng, 0.6):
            labels["pod-security.kubernetes.io/enforce"] = rng.choice(["baseline", "restricted", "privileged"])
        objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
        objects.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "app", "namespace": name}})
    objects += [_workload(rng, i, rng.choice(namespaces)) for i in range(workloads)]
    for i in range(rbac):
        objects += _rbac(rng, i, namespaces)
    objects += [_netpol(rng, i, rng.choice(namespaces), namespaces) for i in range(netpols)]
    return objects


def test_generated_corpus_is_varied() -> None:
    corpus = generate_corpus()
    kinds = {o["kind"] for o in corpus}
    assert len(corpus) >= 300
    assert {"Pod", "Deployment", "CronJob", "Role", "ClusterRoleBinding", "NetworkPolicy", "Namespace"} <= kinds
    assert generate_corpus() == corpus  # reproducible


def _scan(text: str, engine: str) -> tuple[list[tuple[Any, ...]], list[Any], float]:
    loaded = load_text(text, "corpus.yaml")
    started = time.perf_counter()
    result = scan_resources(loaded.resources, ScanOptions(engine=engine, timeout=60), loaded=loaded)
    return [finding_tuple(f) for f in result.findings], result.policy_errors, time.perf_counter() - started


def test_generated_corpus_gives_identical_findings(opa_on_path: None) -> None:
    text = yaml.safe_dump_all(generate_corpus(), sort_keys=False)
    regorus_findings, regorus_errors, regorus_seconds = _scan(text, "regorus")
    opa_findings, opa_errors, opa_seconds = _scan(text, "opa")
    print(f"\ncorpus: {len(regorus_findings)} findings; regorus {regorus_seconds:.2f}s, opa {opa_seconds:.2f}s")
    assert regorus_errors == [] and opa_errors == []
    assert len({f[0] for f in regorus_findings}) >= 20  # the corpus exercises most rules
    assert opa_findings == regorus_findings
