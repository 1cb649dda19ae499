"""Attacks that try to switch the gate off from inside the scanned repository (issue 11 items 1 and 3).

Each test runs the real CLI (typer's runner, in a temporary repository the "pull request" controls) and asserts
that the privileged canary still fails the gate and that the report says what the scan ran with.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scanner.cli import app

CANARY = """\
apiVersion: v1
kind: Pod
metadata:
  name: canary
  namespace: shop
spec:
  containers:
  - name: c
    image: registry.example.com/x:1
    securityContext:
      privileged: true
"""
NOOP_POLICY = """\
package kguard.noop

violation contains {"msg": "never"} if false
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "pod.yaml").write_text(CANARY)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def scan(*args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(app, ["scan", "--format", "json", "--fail-on", "high", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def test_a_policies_folder_in_the_pull_request_does_not_replace_the_library(repo: Path) -> None:
    noop = repo / "policies" / "pod-security" / "noop"
    noop.mkdir(parents=True)
    (repo / "policies" / "lib").mkdir()
    (repo / "policies" / "lib" / "util.rego").write_text("package lib.util\n")
    (noop / "policy.rego").write_text(NOOP_POLICY)
    (noop / "metadata.yaml").write_text("id: noop\nkind: Noop\ntitle: t\ndescription: d\nseverity: low\n"
                                        "category: pod-security\nremediation: r\n")
    code, report = scan("k8s")
    assert code == 1
    assert any(f["rule_id"] == "pss-privileged" for f in report["findings"])
    policies = report["settings"]["policies"]
    assert policies["source"] == "bundled" and len(policies["sha256"]) == 64


def test_a_namespace_label_that_lowers_the_level_is_itself_a_finding(repo: Path) -> None:
    (repo / "k8s" / "ns.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n"
                                          "    pod-security.kubernetes.io/enforce: privileged\n")
    code, report = scan("k8s")
    assert code == 1
    rules = {f["rule_id"] for f in report["findings"]}
    assert "pss-namespace-level-lowered" in rules and "pss-privileged" not in rules


def test_a_second_copy_of_a_namespace_is_reported(repo: Path) -> None:
    (repo / "k8s" / "ns.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n")
    (repo / "k8s" / "zz-ns.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n"
                                             "    pod-security.kubernetes.io/enforce: privileged\n")
    code, report = scan("k8s")
    assert code == 1
    rules = sorted(f["rule_id"] for f in report["findings"])
    assert "input-duplicate-object" in rules and "pss-namespace-level-lowered" in rules


def test_the_report_shows_the_configuration_and_its_origin(repo: Path) -> None:
    (repo / ".kguard.yaml").write_text("podSecurity:\n  defaultLevel: baseline\n  exemptions:\n"
                                       "    namespaces: [shop]\n")
    code, report = scan("k8s")
    config = report["settings"]["config"]
    assert config["source"] == ".kguard.yaml"
    assert config["podSecurity"] == {"defaultLevel": "baseline", "exemptions": {"namespaces": ["shop"]}}
    # the exempt canary is not judged, and the report says so
    assert code == 0 and not [f for f in report["findings"] if f["rule_id"].startswith("pss-")]
    reasons = json.dumps(report)
    assert "Pod shop/canary" in reasons and "excluded (exempt)" in reasons
