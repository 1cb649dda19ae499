"""`kguard audit` honours `.kguard.yaml` (select/ignore, failOn, severityOverrides, podSecurity) like `kguard scan`,
and its flags override the file (issue 12, item 7), against the real control plane."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster.conftest import Kube, deployment

pytestmark = pytest.mark.cluster
REPO = Path(__file__).resolve().parents[2]


def _audit(kube: Kube, cwd: Path, ns: str, *args: str) -> tuple[int, dict]:
    run = subprocess.run([sys.executable, "-m", "scanner", "audit", "--kubeconfig", str(kube.plane.kubeconfig_admin),
                          "--namespace", ns, "-f", "json", "-q", *args], cwd=cwd, capture_output=True, text=True,
                         timeout=300, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert run.returncode in (0, 1), run.stderr
    return run.returncode, json.loads(run.stdout)


def test_audit_honours_the_repository_config_and_flags_override_it(kube: Kube, tmp_path: Path) -> None:
    ns = kube.namespace("configured")
    kube.create(deployment("web", ns, privileged=True, hostNetwork=True))
    (tmp_path / ".kguard.yaml").write_text(
        "select: [pss-privileged, pss-host-namespaces]\nignore: [pss-host-namespaces]\nfailOn: none\n"
        "severityOverrides: {pss-privileged: medium}\n")

    code, report = _audit(kube, tmp_path, ns)
    mine = [f for f in report["findings"] if f["resource"]["namespace"] == ns]
    assert {(f["rule_id"], f["severity"]) for f in mine} == {("pss-privileged", "medium")}
    assert code == 0  # failOn: none
    assert report["settings"]["config"]["severityOverrides"] == {"pss-privileged": "medium"}

    code, report = _audit(kube, tmp_path, ns, "--select", "pss-host-namespaces,pss-privileged", "--ignore",
                          "pss-privileged", "--fail-on", "high")
    mine = [f for f in report["findings"] if f["resource"]["namespace"] == ns]
    assert {f["rule_id"] for f in mine} == {"pss-host-namespaces"} and code == 1

    (tmp_path / ".kguard.yaml").write_text("podSecurity:\n  defaultLevel: privileged\n")
    code, report = _audit(kube, tmp_path, ns, "--select", "pss-*")
    assert not [f for f in report["findings"] if f["resource"]["namespace"] == ns]  # unlabelled: privileged level
