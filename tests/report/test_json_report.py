"""JSON report: schema validity, contents, determinism, golden file."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path, PurePosixPath

import jsonschema
import pytest

from scanner.model import ScanResult
from scanner.report import json_report
from tests.report.report_sample import build_result, check_golden

SCHEMA = Path(__file__).parents[2] / "docs" / "json-schema" / "kguard-report-1.1.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_golden(scan_result: ScanResult) -> None:
    check_golden("kguard.json", json_report.render(scan_result))


def test_validates_against_documented_schema(validator: jsonschema.Draft202012Validator,
                                             scan_result: ScanResult) -> None:
    staging = dataclasses.replace(build_result(), category="kguard/staging")
    for doc in (json_report.build(scan_result), json_report.build([scan_result, staging]),
                json_report.build(ScanResult(findings=[]))):
        errors = list(validator.iter_errors(doc))
        assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_schema_rejects_broken_reports(validator: jsonschema.Draft202012Validator, scan_result: ScanResult) -> None:
    doc = json_report.build(scan_result)
    doc["findings"][0]["severity"] = "urgent"
    assert list(validator.iter_errors(doc))
    doc = json_report.build(scan_result)
    doc["findings"][0]["suppression"] = None  # suppressed without a suppression
    assert doc["findings"][0]["suppressed"] is True
    assert list(validator.iter_errors(doc))


def test_contents(scan_result: ScanResult) -> None:
    doc = json_report.build(scan_result)
    assert doc["schema_version"] == "1.1"
    assert doc["tool"]["name"] == "kguard"
    scan = doc["scan"]
    assert scan["runs"] == ["kguard/production"]
    assert scan["resources"] == 7 and scan["scanned"] == sorted(scan["scanned"])
    assert scan["input_errors"] == [{"run": "kguard/production", "path": "manifests/broken.yaml", "line": 7,
                                     "message": "mapping values are not allowed here"}]
    assert scan["policy_errors"][0]["policy"] == "rbac-unused-rule"
    assert len(scan["skipped"]) == len(scan["not_evaluated"]) == len(scan["coverage"]) == 1
    assert doc["summary"] == {
        "total": 6, "unsuppressed": 4, "suppressed": 2,
        "by_severity": {"critical": 1, "high": 1, "medium": 2, "low": 0, "info": 0},
        "by_category": {"segmentation": 1, "rbac": 1, "pod-security": 2},
    }
    by_rule = {f["rule_id"]: f for f in doc["findings"] if not f["suppressed"]}
    priv = by_rule["pss-privileged"]
    assert priv["resource"] == {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "production",
                                "name": "api-gateway"}
    assert priv["location"] == {"path": "manifests/base/api-gateway/deployment.yaml", "line": 31, "column": 13,
                                "end_line": 31, "end_column": 23}
    assert priv["field_path"] == ["spec", "template", "spec", "containers", 0, "securityContext", "privileged"]
    assert priv["remediation"] == "Remove securityContext.privileged or set it to false."  # from the rule
    assert by_rule["seg-default-deny"]["field_path"] == []
    rbac = by_rule["rbac-wildcard-verbs"]
    assert rbac["related"][0]["location"]["line"] == 20 and rbac["related"][1]["location"] is None
    assert rbac["resource"]["namespace"] is None
    suppressed = [f for f in doc["findings"] if f["suppressed"]]
    assert {f["suppression"]["kind"] for f in suppressed} == {"inSource", "external"}
    paths = [f["location"]["path"] for f in doc["findings"]]
    assert paths == sorted(paths) and "manifests/base/frontend/deployment.yaml" in paths


def test_several_runs_keep_duplicate_findings_apart(scan_result: ScanResult) -> None:
    staging = dataclasses.replace(build_result(), category="kguard/staging")
    doc = json_report.build([scan_result, staging])
    assert doc["scan"]["runs"] == ["kguard/production", "kguard/staging"]
    assert len(doc["findings"]) == 2 * len(scan_result.findings)
    assert doc["summary"]["total"] == 12
    assert {f["run"] for f in doc["findings"]} == {"kguard/production", "kguard/staging"}


def test_deterministic(scan_result: ScanResult) -> None:
    first = json_report.render(scan_result)
    shuffled = build_result()
    rng = random.Random(3)
    for name in ("findings", "scanned", "rules"):
        rng.shuffle(getattr(shuffled, name))
    assert json_report.render(shuffled) == first


def test_coverage_values_that_are_not_json(scan_result: ScanResult) -> None:
    scan_result.coverage = [{"resource": "secrets", "where": PurePosixPath("kube-system")}]
    doc = json.loads(json_report.render(scan_result))
    assert doc["scan"]["coverage"][0]["where"] == "kube-system"
