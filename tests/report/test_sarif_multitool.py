"""The Microsoft SARIF Multitool (npm @microsoft/sarif-multitool) validates our SARIF with 0 errors."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest

from scanner.model import Location, ScanResult
from scanner.report import sarif
from tests.fixtures.tools import find_tool
from tests.report.report_sample import build_result

ALLOW_SKIP_ENV = "KGUARD_ALLOW_SKIP_TOOLS"
ALL_LEVELS = ("Error", "Warning", "Note")
# Advisory notes we accept, each for a reason: SARIF2002 message ids/arguments (GitHub shows message.text),
# SARIF2003 versionControlProvenance (the scan result carries no git revision), SARIF2006 unreachable URIs (no
# network here), SARIF2009 rule id format (kguard ids are kebab-case by design), SARIF2010/SARIF2011 snippets and
# context regions (reporters do not read source files), SARIF2012 help URI (rules without help_url).
ACCEPTED_NOTES = {"SARIF2002", "SARIF2003", "SARIF2006", "SARIF2009", "SARIF2010", "SARIF2011", "SARIF2012"}

pytestmark = pytest.mark.integration


def require_multitool() -> Path:
    """`sarif-multitool` from `$KGUARD_CACHE/bin` (scripts/install-tools.sh) or PATH."""
    tool = find_tool("sarif-multitool")
    if tool is None:
        message = "sarif-multitool not found in $KGUARD_CACHE/bin or PATH; run scripts/install-tools.sh"
        if os.environ.get(ALLOW_SKIP_ENV) == "1":
            pytest.skip(f"{message} ({ALLOW_SKIP_ENV}=1)")
        pytest.fail(f"{message}; set {ALLOW_SKIP_ENV}=1 to skip instead", pytrace=False)
    return tool


def validate(tool: Path, sarif_file: Path, levels: tuple[str, ...] = ALL_LEVELS) -> list[dict]:
    """Run `sarif-multitool validate` and return the results of its output log (the problems it found).

    Levels go as separate arguments: the npm entry point runs the tool through a shell, where `;` ends a command.
    """
    out = sarif_file.with_suffix(".validation.sarif")
    proc = subprocess.run(
        [str(tool), "validate", str(sarif_file), "--output", str(out), "--log", "ForceOverwrite", "--level", *levels],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert out.exists(), f"multitool wrote no output (exit {proc.returncode}): {proc.stdout}\n{proc.stderr}"
    log = json.loads(out.read_text(encoding="utf-8-sig"))
    return [r for run in log["runs"] for r in run.get("results", [])]


def _level(problem: dict) -> str:
    return problem.get("level", "warning")  # SARIF's default level


def _unexpected(problems: list[dict]) -> list[str]:
    """Errors, warnings and notes outside ACCEPTED_NOTES, described for the assertion message."""
    return [f"{_level(p)} {p.get('ruleId')}: {p['message'].get('arguments')}" for p in problems
            if _level(p) != "note" or p.get("ruleId") not in ACCEPTED_NOTES]


def test_rich_sample_has_no_problems(tmp_path: Path) -> None:
    """Several runs (overlays), suppressions, related locations, notifications: no error or warning, only the
    accepted advisory notes."""
    tool = require_multitool()
    staging = dataclasses.replace(build_result(), category="kguard/staging")
    empty = ScanResult(findings=[], category="kguard/development")
    target = tmp_path / "kguard.sarif"
    target.write_text(sarif.render([build_result(), staging, empty]), encoding="utf-8")
    problems = validate(tool, target)
    assert problems, "expected at least the advisory notes; is --level honoured?"
    assert not _unexpected(problems)
    assert not [p for p in problems if _level(p) in ("error", "warning")]


def test_multitool_reports_a_broken_region(tmp_path: Path) -> None:
    """The validator does catch problems (so the test above can fail)."""
    tool = require_multitool()
    log = json.loads(sarif.render(build_result()))
    log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    target = tmp_path / "broken.sarif"
    target.write_text(json.dumps(log), encoding="utf-8")
    errors = [p for p in validate(tool, target, ("Error",)) if _level(p) == "error"]
    assert errors, "the multitool accepted startLine 0"


def test_outside_root_and_odd_paths_validate(tmp_path: Path) -> None:
    tool = require_multitool()
    result = build_result()
    finding = result.findings[0]
    odd = [dataclasses.replace(finding, location=Location(path=path, line=3, column=2, end_line=4, end_column=1))
           for path in ("/elsewhere/abs.yaml", "dir with space/ü.yaml", "<stdin>", "c:/x.yaml")]
    result.findings.extend(odd)
    target = tmp_path / "odd.sarif"
    target.write_text(sarif.render(result, source_root=tmp_path), encoding="utf-8")
    assert not _unexpected(validate(tool, target))


INSECURE_OVERLAY = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../production
patches:
  - path: privileged.yaml
"""
PRIVILEGED_PATCH = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: product-service
  namespace: shop-production
spec:
  template:
    spec:
      containers:
        - name: product-service
          securityContext:
            privileged: true
"""


@pytest.mark.parametrize("source", ["files", "overlays"])
def test_scan_of_the_repository_manifests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> None:
    """End to end on a copy of the repo's manifests (plain files; every Kustomize overlay as its own run, plus one
    overlay that patches a privileged container in): valid SARIF, and every result points at a real file and a
    line inside it."""
    from scanner.plan import scan_overlays
    from scanner.scan import ScanOptions, scan_paths

    tool = require_multitool()
    repo = Path(__file__).resolve().parents[2]
    shutil.copytree(repo / "manifests", tmp_path / "manifests")
    insecure = tmp_path / "manifests" / "overlays" / "zz-insecure"
    insecure.mkdir()
    (insecure / "kustomization.yaml").write_text(INSECURE_OVERLAY)
    (insecure / "privileged.yaml").write_text(PRIVILEGED_PATCH)
    monkeypatch.chdir(tmp_path)
    options = ScanOptions(policy_dir=repo / "policies")
    if source == "files":
        results = [scan_paths(["manifests"], options)]
    else:
        overlays = sorted(p.relative_to(tmp_path).as_posix() for p in insecure.parent.iterdir() if p.is_dir())
        results = scan_overlays(overlays, options)
        assert not [e for r in results for e in r.input_errors], [str(e) for r in results for e in r.input_errors]
        assert any(f.rule_id == "pss-privileged" and f.location.path == "manifests/overlays/zz-insecure/privileged.yaml"
                   and f.location.line == 12 for f in results[-1].findings), results[-1].findings
    assert any(r.findings for r in results)
    target = tmp_path / "kguard.sarif"
    target.write_text(sarif.render(results), encoding="utf-8")
    assert not _unexpected(validate(tool, target))
    runs = json.loads(target.read_text())["runs"]
    assert len(runs) == len(results)
    for res in (res for run in runs for res in run["results"]):
        phys = res["locations"][0]["physicalLocation"]
        source_file = tmp_path / unquote(phys["artifactLocation"]["uri"])
        assert source_file.is_file(), source_file
        lines = source_file.read_text(encoding="utf-8").splitlines()
        assert 1 <= phys["region"]["startLine"] <= phys["region"]["endLine"] <= len(lines) + 1, res["ruleId"]


def test_audit_with_drift_rules_validates(tmp_path: Path) -> None:
    """An audit result with every drift rule (helpUri made absolute), the analyses' rules and a coverage gap:
    valid SARIF, every helpUri absolute (the multitool's SARIF1002 is an error)."""
    from scanner.analysis import analysis_rules
    from scanner.drift import RULES as DRIFT_RULES
    from scanner.drift import drift_finding
    from scanner.model import Resource

    tool = require_multitool()
    live = Resource(obj={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "hand-made", "namespace": "shop"}},
                    path="cluster/live/shop/ConfigMap/hand-made.yaml", origin="cluster")
    findings = [drift_finding(rule_id, live, f"{rule_id} on ConfigMap shop/hand-made") for rule_id in DRIFT_RULES]
    result = ScanResult(findings=findings, rules=[*build_result().rules, *analysis_rules(), *DRIFT_RULES.values()],
                        category="kguard/live", resources=1,
                        coverage=[{"resource": "secrets", "namespace": "kube-system", "reason": "forbidden"}])
    target = tmp_path / "audit.sarif"
    target.write_text(sarif.render(result), encoding="utf-8")
    log = json.loads(target.read_text())
    uris = [rule["helpUri"] for rule in log["runs"][0]["tool"]["driver"]["rules"] if "helpUri" in rule]
    assert any("docs/audit.md#drift-against-git" in uri for uri in uris)
    assert all(uri.startswith("https://") for uri in uris), uris
    problems = validate(tool, target)
    assert not _unexpected(problems)


def test_multitool_rejects_a_relative_help_uri(tmp_path: Path) -> None:
    """What the audit wrote before: a relative helpUri is an error (so the test above can fail)."""
    tool = require_multitool()
    log = json.loads(sarif.render(build_result()))
    log["runs"][0]["tool"]["driver"]["rules"][0]["helpUri"] = "docs/audit.md#drift"
    target = tmp_path / "relative.sarif"
    target.write_text(json.dumps(log), encoding="utf-8")
    assert [p for p in validate(tool, target, ("Error",)) if p.get("ruleId") == "SARIF1002"]
