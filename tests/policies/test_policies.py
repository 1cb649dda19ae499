"""The policy library: every suite case through `kguard verify` (regorus; OPA and gator as integration), catalogue
completeness, authoring conventions."""

from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from scanner.engine.catalogue import load_catalogue
from scanner.verify import FAIL, SuiteResult, verify
from tests.fixtures.tools import require_tool

REPO = Path(__file__).resolve().parents[2]
POLICY_DIR = REPO / "policies"
SUITES = sorted(POLICY_DIR.glob("*/*/suite.yaml"))
CATALOGUE = load_catalogue(POLICY_DIR)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@functools.cache
def _verified(engine: str = "regorus") -> dict[Path, SuiteResult]:
    return {REPO / s.path if not Path(s.path).is_absolute() else Path(s.path): s
            for s in verify([str(POLICY_DIR) + "/..."], engine=engine)}


def _suite(path: Path, engine: str = "regorus") -> SuiteResult:
    results = _verified(engine)
    return next(r for p, r in results.items() if p.resolve() == path.resolve())


# Pod Security Admission check ids of k8s.io/pod-security-admission v0.37 (Kubernetes 1.37).
PSS_CHECKS = {
    "baseline": {
        "hostNamespaces", "privileged", "capabilities_baseline", "hostPathVolumes", "hostPorts", "appArmorProfile",
        "seLinuxOptions", "procMount", "seccompProfile_baseline", "sysctls", "windowsHostProcess",
        "hostProbesAndHostLifecycle",
    },
    "restricted": {
        "restrictedVolumes", "allowPrivilegeEscalation", "runAsNonRoot", "runAsUser", "seccompProfile_restricted",
        "capabilities_restricted", "procMount_restricted",
    },
}


def _case_ids() -> list[tuple[Path, str]]:
    ids = []
    for suite in SUITES:
        for test in load_yaml(suite).get("tests") or []:
            ids.extend((suite, case["name"]) for case in test.get("cases") or [])
    return ids


def _case(suite: Path, name: str, engine: str = "regorus") -> Any:
    (case,) = [c for t in _suite(suite, engine).tests for c in t.cases if c.name == name]
    return case


@pytest.mark.parametrize(("suite", "case"), _case_ids(), ids=lambda v: v if isinstance(v, str) else v.parent.name)
def test_suite_case_passes_with_regorus(suite: Path, case: str) -> None:
    result = _case(suite, case)
    assert result.status != FAIL, f"{suite.relative_to(REPO)} / {case}: {result.error}"
    assert not any(t.status == FAIL for t in _suite(suite).tests), suite


def test_every_policy_has_a_suite_with_firing_and_quiet_cases() -> None:
    assert len(CATALOGUE) >= 39
    for policy in CATALOGUE:
        suite = policy.directory / "suite.yaml"
        assert suite.is_file(), f"{policy.rule.id}: no suite.yaml"
        results = [c for t in _suite(suite).tests for c in t.cases]
        assert any(r.results for r in results), f"{policy.rule.id}: no case produces a violation"
        assert any(not r.results for r in results), f"{policy.rule.id}: every case produces violations"
        tests = load_yaml(suite)["tests"]
        kind = policy.rule.kind.lower()
        assert {t["template"] for t in tests} == {f"../../../gatekeeper/templates/{kind}.yaml"}
        assert {t["constraint"] for t in tests} == {f"../../../gatekeeper/constraints/{kind}.yaml"}


def test_catalogue_metadata_is_complete() -> None:
    for policy in CATALOGUE:
        meta, rule = policy.metadata, policy.rule
        for key in ("id", "kind", "title", "description", "severity", "category", "remediation", "help_url"):
            assert meta.get(key), f"{policy.directory}: metadata.{key} missing"
        prefix = {"pod-security": "pss-", "rbac": "rbac-", "segmentation": "seg-"}[rule.category]
        assert rule.id.startswith(prefix) and re.fullmatch(r"[a-z0-9-]+", rule.id)
        assert rule.kind.startswith("Kguard") and rule.kind.isalnum()
        assert policy.directory.parent.name == rule.category
        assert len(rule.description) <= 1024
        assert rule.help_url.startswith("https://")
        (generated, *_) = policy.to_constraints()
        assert generated["spec"].get("match", {}).get("kinds"), f"{rule.id}: constraint must match kinds"


def test_pss_policies_cover_every_upstream_check() -> None:
    covered: dict[str, set[str]] = {"baseline": set(), "restricted": set()}
    for policy in CATALOGUE:
        if policy.rule.category == "pod-security":
            assert policy.rule.pss_level in covered, f"{policy.rule.id}: pss.level missing"
            covered[policy.rule.pss_level].update(policy.rule.pss_check)
    assert covered == PSS_CHECKS


def test_pss_policies_match_every_workload_kind_and_exempt_only_what_is_configured() -> None:
    from scanner.config import PodSecurityConfig

    wanted = {("", "Pod"), ("", "PodTemplate"), ("", "ReplicationController"), ("apps", "Deployment"),
              ("apps", "StatefulSet"), ("apps", "DaemonSet"), ("apps", "ReplicaSet"), ("batch", "Job"),
              ("batch", "CronJob"), ("extensions", "Deployment"), ("extensions", "DaemonSet"),
              ("extensions", "ReplicaSet"), ("argoproj.io", "Rollout")}
    exempt = PodSecurityConfig(exempt_namespaces=("kube-system", "tools"))
    for policy in CATALOGUE:
        if policy.rule.category != "pod-security":
            continue
        (default,) = policy.to_constraints()
        match = default["spec"]["match"]
        kinds = {(g, k) for entry in match["kinds"] for g in entry["apiGroups"] for k in entry["kinds"]}
        assert kinds == wanted, policy.rule.id
        assert "excludedNamespaces" not in match, policy.rule.id  # no implicit exemption
        assert match["namespaceSelector"]["matchExpressions"][0]["key"] == "pod-security.kubernetes.io/enforce"
        for constraint in policy.to_constraints(exempt):
            assert constraint["spec"]["match"]["excludedNamespaces"] == ["kube-system", "tools"]


def test_rego_follows_the_authoring_conventions() -> None:
    for path in sorted(POLICY_DIR.rglob("*.rego")):
        text = path.read_text()
        assert "import rego.v1" not in text, path
        imports = re.findall(r"^import\s+(\S+)", text, re.MULTILINE)
        assert all(i.startswith(("data.lib.", "future.")) for i in imports), (path, imports)
        package = re.search(r"^package\s+(\S+)", text, re.MULTILINE).group(1)
        if path.parent.name == "lib":
            assert package == f"lib.{path.stem}"
        else:
            category, name = path.parent.parent.name, path.parent.name
            assert package == f"kguard.{category.replace('-', '_')}.{name.replace('-', '_')}"
            assert re.search(r"^violation contains", text, re.MULTILINE)
        for ref in re.findall(r"(?<![\w./-])data\.(\w+)", text):
            assert ref in {"lib", "inventory"}, (path, ref)


def _walk(obj: Any, path: list[Any]) -> int:
    """How many leading path elements exist in obj; fails when the path indexes into a scalar."""
    depth = 0
    for key in path:
        if (isinstance(key, int) and isinstance(obj, list) and 0 <= key < len(obj)) or (isinstance(key, str) and isinstance(obj, dict) and key in obj):
            obj = obj[key]
        else:
            assert isinstance(obj, dict | list) or obj is None, f"path {path} goes through a scalar at {key!r}"
            return depth
        depth += 1
    return depth


def test_field_paths_point_into_the_reviewed_object() -> None:
    checked = 0
    for suite in SUITES:
        base = suite.parent
        for test in load_yaml(suite)["tests"]:
            for case in test["cases"]:
                obj = load_yaml(base / case["object"])
                for violation in _case(suite, case["name"]).results:
                    path = violation.get("details", {}).get("field_path")
                    if path is None:
                        continue
                    assert path and all(isinstance(k, str | int) and not isinstance(k, bool) for k in path)
                    assert _walk(obj, path) >= min(2, len(path)), f"{base.name}/{case['name']}: {path}"
                    checked += 1
    assert checked > 100


@pytest.mark.integration
@pytest.mark.parametrize("suite", SUITES, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_opa_gives_the_same_violations_as_regorus(suite: Path, opa_on_path: None) -> None:
    for test in _suite(suite).tests:
        for case in test.cases:
            opa_case = _case(suite, case.name, engine="opa")
            assert opa_case.status == case.status, (suite, case.name, opa_case.error)
            assert sorted(map(repr, opa_case.results)) == sorted(map(repr, case.results)), (suite, case.name)


@pytest.mark.integration
def test_opa_strict_check_accepts_every_module() -> None:
    proc = subprocess.run([require_tool("opa"), "check", "--strict", str(POLICY_DIR)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.integration
@pytest.mark.parametrize("suite", SUITES, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_gator_verify_passes(suite: Path) -> None:
    proc = subprocess.run([require_tool("gator"), "verify", str(suite.parent)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
