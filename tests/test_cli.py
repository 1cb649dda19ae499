"""The CLI contract: exit codes, one-line errors, outputs, determinism."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from scanner.cli import app
from tests.engine.conftest import constraint, template

PRIVILEGED = """
package k8spriv
violation contains {"msg": msg, "details": {"field_path": ["spec", "containers", i, "securityContext", "privileged"]}} if {
  some i, c in input.review.object.spec.containers
  c.securityContext.privileged
  msg := sprintf("container %v is privileged", [c.name])
}
"""
BAD_POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec:\n  containers:\n  - name: c\n    securityContext:\n      privileged: true\n"
GOOD_POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: good}\nspec:\n  containers:\n  - name: c\n"

runner = CliRunner()


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".git").mkdir()
    tdir = tmp_path / "templates"
    tdir.mkdir()
    (tdir / "t.yaml").write_text(template("K8sPriv", PRIVILEGED) + "---\n" + constraint("K8sPriv", "p"))
    (tmp_path / "bad.yaml").write_text(BAD_POD)
    (tmp_path / "good.yaml").write_text(GOOD_POD)
    (tmp_path / "broken.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: [\n")
    return tmp_path


def kguard(*args, input=None):
    return runner.invoke(app, ["scan", "--templates", "templates", "--no-default-policies", *args], input=input)


def test_exit_codes(files):
    assert kguard("good.yaml").exit_code == 0
    assert kguard("bad.yaml").exit_code == 1
    assert kguard("bad.yaml", "--fail-on", "critical").exit_code == 0
    assert kguard("bad.yaml", "--fail-on", "none").exit_code == 0
    assert kguard("bad.yaml", "broken.yaml").exit_code == 2
    assert kguard("--format", "xml", "good.yaml").exit_code == 2
    assert runner.invoke(app, ["scan"]).exit_code == 2


def test_malformed_yaml_is_one_line_and_other_files_still_reported(files):
    result = kguard("bad.yaml", "broken.yaml", "--format", "json")
    assert result.exit_code == 2
    assert "kguard: error: broken.yaml:4: invalid YAML" in result.stderr
    report = json.loads(result.stdout)
    assert [f["location"]["path"] for f in report["findings"]] == ["bad.yaml"]


def test_quiet_prints_linter_lines(files):
    result = kguard("bad.yaml", "good.yaml", "--quiet")
    assert result.stdout == "bad.yaml:8:7: high k8spriv container c is privileged\n"


def test_stdin_and_output_file(files):
    result = kguard("-", "--format", "json", "--output", "out/r.json", input=BAD_POD)
    assert result.exit_code == 1 and result.stdout == ""
    report = json.loads((files / "out" / "r.json").read_text())
    assert report["findings"][0]["location"]["path"] == "<stdin>"


def test_sarif_is_byte_identical_across_runs(files):
    first = kguard("bad.yaml", "good.yaml", "--format", "sarif").stdout
    second = kguard("good.yaml", "bad.yaml", "--format", "sarif").stdout
    assert first == second
    sarif = json.loads(first)
    assert sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 8


def test_report_dir_writes_every_format(files):
    assert kguard("bad.yaml", "--report-dir", "reports").exit_code == 1
    assert sorted(p.name for p in (files / "reports").iterdir()) == ["kguard.html", "kguard.json", "kguard.md",
                                                                      "kguard.sarif", "kguard.txt"]


def test_unknown_rule_selection_is_a_usage_error(files):
    result = kguard("good.yaml", "--select", "no-such-rule")
    assert result.exit_code == 2 and "matches no rule" in result.stderr


def test_rules_json_lists_the_catalogue():
    result = runner.invoke(app, ["rules", "--format", "json"])
    assert result.exit_code == 0
    rules = json.loads(result.stdout)
    assert {r["category"] for r in rules} == {"pod-security", "rbac", "segmentation", "input"}
    assert all(r["id"] and r["title"] and r["severity"] for r in rules)


def test_real_process_never_prints_a_traceback(files):
    proc = subprocess.run([sys.executable, "-m", "scanner", "scan", "broken.yaml", "--policy-dir", "nowhere"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "nowhere" in proc.stderr


def _overlay(root, name, pod):
    directory = root / "overlays" / name
    directory.mkdir(parents=True)
    (directory / "pod.yaml").write_text(pod)
    (directory / "kustomization.yaml").write_text("resources: [pod.yaml]\n")


@pytest.mark.integration
@pytest.mark.parametrize(("first", "second", "code"), [
    (GOOD_POD, BAD_POD, 1),  # a privileged Pod in a later overlay still fails the run
    (BAD_POD, GOOD_POD, 1),
    (GOOD_POD, GOOD_POD, 0),
    ("apiVersion: v1\nkind: Pod\nmetadata: [\n", BAD_POD, 2),  # an input error outranks findings
    (BAD_POD, "apiVersion: v1\nkind: Pod\nmetadata: [\n", 2),
], ids=["finding-in-later", "finding-in-first", "clean", "error-in-first", "error-in-later"])
def test_all_overlays_exit_with_the_worst_overlay(files, first, second, code):
    _overlay(files, "a-first", first)
    _overlay(files, "b-second", second)
    result = kguard("--all-overlays", "overlays", "-f", "json")
    assert result.exit_code == code, result.output
    runs = json.loads(result.stdout)["scan"]["runs"]
    assert len([r for r in runs if "overlays/" in r]) == 2, runs  # both overlays scanned, one run each


def test_baseline_beside_write_baseline_is_a_usage_error(files):
    result = kguard("bad.yaml", "--baseline", "old.json", "--write-baseline", "new.json")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "--baseline and --write-baseline cannot be combined" in result.stderr
    assert not (files / "new.json").exists()
