"""The tools installed by scripts/install-tools.sh are the pinned versions and do what kguard relies on."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.tools import REPO_ROOT, require_tool

TEMPLATE_V1 = """\
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: kgfixturelabel
spec:
  crd:
    spec:
      names:
        kind: KgFixtureLabel
      validation:
        openAPIV3Schema:
          type: object
          properties:
            label:
              type: string
  targets:
    - target: admission.k8s.gatekeeper.sh
      code:
        - engine: Rego
          source:
            version: "v1"
            rego: |
              package kgfixturelabel

              violation contains {"msg": msg} if {
                not input.review.object.metadata.labels[input.parameters.label]
                msg := sprintf("missing label %v", [input.parameters.label])
              }
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: KgFixtureLabel
metadata:
  name: need-team
spec:
  match:
    kinds:
      - apiGroups: [""]
        kinds: ["Namespace"]
  parameters:
    label: team
---
apiVersion: v1
kind: Namespace
metadata:
  name: unlabelled
---
apiVersion: v1
kind: Namespace
metadata:
  name: labelled
  labels: {team: shop}
"""


def _pinned(variable: str) -> str:
    script = (REPO_ROOT / "scripts" / "install-tools.sh").read_text()
    match = re.search(rf'^{variable}="([^"]+)"$', script, re.MULTILINE)
    assert match, f"{variable} not pinned in install-tools.sh"
    return match.group(1)


@pytest.mark.integration
def test_opa_is_the_pinned_version() -> None:
    output = subprocess.run([require_tool("opa"), "version"], capture_output=True, text=True, check=True).stdout
    assert f"Version: {_pinned('OPA_VERSION').removeprefix('v')}\n" in output
    assert "Rego Version: v1" in output


@pytest.mark.integration
def test_gator_evaluates_a_rego_v1_template(tmp_path: Path) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(TEMPLATE_V1)
    result = subprocess.run(
        [require_tool("gator"), "test", "-f", str(suite), "-o", "json"], capture_output=True, text=True
    )
    assert result.returncode == 1, result.stderr
    violations = json.loads(result.stdout)
    assert [(v["violatingObject"]["metadata"]["name"], v["msg"]) for v in violations] == [
        ("unlabelled", "missing label team")
    ]


@pytest.mark.integration
def test_sarif_multitool_reports_schema_errors(tmp_path: Path) -> None:
    multitool = require_tool("sarif-multitool")
    good = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "kguard", "version": "0"}}, "results": []}]}
    bad = {"version": "2.1.0", "runs": [{"tool": {}}]}
    (tmp_path / "good.sarif").write_text(json.dumps(good))
    (tmp_path / "bad.sarif").write_text(json.dumps(bad))
    report = tmp_path / "validation.sarif"
    subprocess.run(
        [multitool, "validate", str(tmp_path / "good.sarif"), str(tmp_path / "bad.sarif"), "-o", str(report)],
        capture_output=True,
        check=True,  # validate exits 0 even for invalid input: the errors are in the report
    )
    errors = [
        (Path(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]).name, r["ruleId"])
        for r in json.loads(report.read_text())["runs"][0]["results"]
        if r.get("level") == "error"
    ]
    assert errors == [("bad.sarif", "JSON1002")]
