"""Every format shows what the scan ran with (ScanResult.settings) and what was not scanned or not evaluated."""

from __future__ import annotations

import copy
import dataclasses
import html
import json
import re
from pathlib import Path

import jsonschema
import pytest

from scanner.model import ScanResult, Skipped
from scanner.report import REPORT_FILES, json_report, rich_report, sarif
from tests.report.report_sample import SETTINGS

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "json-schema" / "kguard-report-1.1.json").read_text())
DIGEST = SETTINGS["policies"]["sha256"]


def every_format(results: ScanResult | list[ScanResult]) -> dict[str, str]:
    return {name: renderer(results) for name, renderer in REPORT_FILES.items()}


def test_human_formats_show_policies_configuration_and_suppressions(scan_result: ScanResult) -> None:
    for name, text in every_format(scan_result).items():
        if name in ("kguard.txt", "kguard.html"):
            plain = html.unescape(text) if name.endswith("html") else text
            assert f"policies (sha256 {DIGEST})" in plain, name
            assert ".kguard.yaml: overlays=default, exclude=manifests/experimental/**" in plain, name
            assert "podSecurity.exemptions.namespaces=kube-system" in plain, name
            assert "1 inline (annotations), 1 baseline" in plain, name


def test_machine_formats_carry_the_settings_as_data(scan_result: ScanResult) -> None:
    texts = every_format(scan_result)
    assert json.loads(texts["kguard.json"])["settings"] == SETTINGS
    bag = json.loads(texts["kguard.sarif"])["runs"][0]["invocations"][0]["properties"]["settings"]
    expected = copy.deepcopy(SETTINGS)
    del expected["config"]["overlays"]  # SARIF drops null values
    assert bag == expected


@pytest.mark.parametrize("settings", [
    {},
    {"policies": {"source": "bundled"}},
    {"config": {"source": "built-in defaults"}, "suppressions": {}},
    {"policies": "odd", "config": None, "suppressions": {"inline": 0}, "engine": {"name": "regorus"}},
])
def test_missing_or_partial_settings_are_shown_gracefully(settings: dict[str, object]) -> None:
    result = ScanResult(findings=[], settings=settings)
    texts = every_format(result)
    assert "policies" in texts["kguard.txt"] and "suppressions" in texts["kguard.txt"]
    if not settings:
        assert texts["kguard.txt"].count("not recorded") == 3
    assert json.loads(texts["kguard.json"])["settings"] == settings
    if settings.get("policies") != "odd":  # the documented shapes validate
        assert not list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(json_report.build(result)))


def test_several_runs_share_settings_and_sum_suppressions(scan_result: ScanResult) -> None:
    staging = dataclasses.replace(scan_result, category="kguard/staging",
                                  settings={**SETTINGS, "suppressions": {"inline": 2, "baseline": 0}})
    merged = json_report.build([scan_result, staging])["settings"]
    assert merged["policies"] == SETTINGS["policies"] and merged["config"] == SETTINGS["config"]
    assert merged["suppressions"] == {"inline": 3, "baseline": 1}
    other = dataclasses.replace(staging, settings={**staging.settings, "policies": {"source": "elsewhere"}})
    merged = json_report.build([scan_result, other])["settings"]
    assert merged["policies"] == {"per_run": {"kguard/production": SETTINGS["policies"],
                                              "kguard/staging": {"source": "elsewhere"}}}
    assert not list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(json_report.build([scan_result, other])))
    runs = json.loads(sarif.render([scan_result, other]))["runs"]
    assert [r["invocations"][0]["properties"]["settings"]["policies"]["source"] for r in runs] == [
        "policies", "elsewhere"]
    text = rich_report.render([scan_result, other])
    assert text.count("policies (sha256") == 1 and "policies       elsewhere" in text


def test_every_format_lists_what_was_not_scanned_or_not_evaluated(scan_result: ScanResult) -> None:
    scan_result.not_evaluated.append(Skipped(path="manifests/crd.yaml", reason="unknown kind Widget", line=3))
    reasons = [
        "not a Kubernetes object (no apiVersion/kind)",  # skipped input
        "namespaceSelector of pss-privileged needs Namespace production, not scanned",  # not evaluated
        "unknown kind Widget",
        "mapping values are not allowed here",  # input error
        "evaluation timed out after 5s",  # policy error
        "forbidden: cannot list",  # coverage gap
    ]
    for name, text in every_format(scan_result).items():
        plain = html.unescape(re.sub(r"<[^>]*>", "", text)) if name.endswith("html") else text
        if name in ("kguard.txt", "kguard.html"):
            plain = " ".join(plain.split())  # undo Rich's wrapping
        for reason in reasons:
            assert reason in plain, (name, reason)
