"""`kguard audit --compare PREVIOUS` against the real kube-apiserver + etcd: the second night's audit leads with
what changed since the first one's report (JSON or SARIF), and --report-dir gets a SARIF log with baselineState
that passes the SARIF Multitool."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster.conftest import Kube, deployment
from tests.diff.test_diff_sarif import SARIF_SCHEMA
from tests.fixtures.controlplane import api_request
from tests.report.test_sarif_multitool import _unexpected, require_multitool, validate

pytestmark = pytest.mark.cluster
REPO = Path(__file__).resolve().parents[2]
TEMPLATES = str(REPO / "tests" / "cluster" / "templates")


def _audit(kube: Kube, ns: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scanner", "audit", "--kubeconfig", str(kube.plane.kubeconfig_admin),
                           "--namespace", ns, "--templates", TEMPLATES, "--no-default-policies", "-q", *extra],
                          capture_output=True, text=True, cwd=REPO, timeout=300, check=False)


def test_second_audit_leads_with_what_changed(kube: Kube, tmp_path: Path) -> None:
    import jsonschema

    ns = kube.namespace("compare")
    kube.create(deployment("old", ns, privileged=True))
    kube.create(deployment("kept", ns, privileged=True))
    first = _audit(kube, ns, "-f", "json", "-o", str(tmp_path / "previous.json"), "--report-dir",
                   str(tmp_path / "night1"))
    assert first.returncode == 1, first.stderr
    plane = kube.plane
    status, _ = api_request(plane.server, plane.ca_file, plane.admin_token, "DELETE",
                            f"/apis/apps/v1/namespaces/{ns}/deployments/old")
    assert status == 200
    kube.create(deployment("new", ns, privileged=True))
    for previous in (tmp_path / "previous.json", tmp_path / "night1" / "kguard.sarif"):
        reports = tmp_path / f"night2-{previous.suffix[1:]}"
        second = _audit(kube, ns, "--compare", str(previous), "--report-dir", str(reports))
        assert second.returncode == 1, second.stderr
        lead = [line for line in second.stderr.splitlines() if line.startswith("kguard: ")]
        assert lead[0] == (f"kguard: since {previous.as_posix()}: 1 new, 0 updated, 1 absent (fixed), "
                           "1 unchanged"), second.stderr
        assert any(line.startswith("kguard: new: high test-privileged Deployment") and f"{ns}/new" in line
                   for line in lead)
        assert any(line.startswith("kguard: absent: ") and f"{ns}/old" in line for line in lead)
        log = json.loads((reports / "kguard-compare.sarif").read_text())
        states = {r["properties"]["resource"]["name"]: r["baselineState"] for r in log["runs"][0]["results"]}
        assert states == {"new": "new", "kept": "unchanged", "old": "absent"}
        jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(log)
        assert "### New since the previous audit (1)" in (reports / "kguard-compare.md").read_text()
    tool = require_multitool()
    assert not _unexpected(validate(tool, tmp_path / "night2-json" / "kguard-compare.sarif"))


def test_compare_with_a_file_that_is_no_report(kube: Kube, tmp_path: Path) -> None:
    ns = kube.namespace("compare-bad")
    bad = tmp_path / "previous.json"
    bad.write_text('{"hello": 1}')
    run = _audit(kube, ns, "--compare", str(bad))
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1] == (f"kguard: error: {bad}: --compare: not a kguard JSON report "
                                                   "(schema 1.x) or SARIF log")


def test_nightly_workflow_compares_with_the_previous_night(kube: Kube, tmp_path: Path) -> None:
    """The nightly workflow's steps for real: the first night has nothing to compare with; the report it keeps
    makes the second night's summary lead with what changed."""
    import shutil

    from tests.test_workflows import _bash, _load, _step

    document = _load(REPO / ".github" / "workflows" / "nightly-audit.yml")
    runner_temp = tmp_path / "runner"
    runner_temp.mkdir()
    shutil.copy(kube.plane.kubeconfig_admin, runner_temp / "kubeconfig")
    work = tmp_path / "work"
    work.mkdir()
    output = tmp_path / "github-output"
    env = {"RUNNER_TEMP": str(runner_temp), "OVERLAY": "none", "FAIL_ON": "high", "SARIF": "reports/kguard-audit.sarif",
           "GITHUB_OUTPUT": str(output)}
    audit = _step(document, "audit", "Audit")["run"]
    for night in (1, 2):
        output.write_text("")
        done = _bash(audit, work, env)
        assert done.returncode == 0 and output.read_text().startswith("exit-code="), done.stderr
        assert (work / "reports" / "audit" / "kguard-compare.md").exists() == (night == 2)
        summary = tmp_path / f"summary-{night}.md"
        done = _bash(_step(document, "audit", "Job summary")["run"], work, {"GITHUB_STEP_SUMMARY": str(summary)})
        assert done.returncode == 0, done.stderr
        assert summary.read_text().startswith("## kguard audit: since `previous/kguard.json`" if night == 2
                                              else "## kguard")
        done = _bash(_step(document, "audit", "Keep tonight's report for tomorrow's comparison")["run"], work, {})
        assert done.returncode == 0 and (work / "previous" / "kguard.json").is_file()
