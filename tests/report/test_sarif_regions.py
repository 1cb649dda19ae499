"""SARIF regions, tested directly: 1-based lines and columns, columns in Unicode code points (the run's
`columnKind`), end exclusive (SARIF 2.1.0 §3.30), from a real scan of a real file."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from scanner.model import Location, ScanResult
from scanner.report import sarif
from scanner.scan import ScanOptions, scan_paths
from tests.report.report_sample import build_result


def _regions(result: ScanResult) -> list[dict]:
    log = json.loads(sarif.render(result))
    assert log["runs"][0]["columnKind"] == "unicodeCodePoints"
    return [r["locations"][0]["physicalLocation"]["region"] for r in log["runs"][0]["results"]]


@pytest.mark.parametrize(("location", "region"), [
    (Location(path="a.yaml", line=1, column=1, end_line=1, end_column=5),
     {"startLine": 1, "startColumn": 1, "endLine": 1, "endColumn": 5}),
    (Location(path="a.yaml", line=9, column=13, end_line=9, end_column=29),
     {"startLine": 9, "startColumn": 13, "endLine": 9, "endColumn": 29}),
    (Location(path="a.yaml", line=4, column=3, end_line=7, end_column=1),
     {"startLine": 4, "startColumn": 3, "endLine": 7, "endColumn": 1}),
    # an unknown column (0) is the start of the line: SARIF columns start at 1
    (Location(path="a.yaml", line=3, column=0, end_line=3, end_column=0),
     {"startLine": 3, "startColumn": 1, "endLine": 3, "endColumn": 1}),
])
def test_a_location_becomes_the_same_region(location: Location, region: dict) -> None:
    sample = build_result()
    sample.findings = [dataclasses.replace(sample.findings[0], location=location)]
    assert _regions(sample) == [region]


def _line_col(text: str, line: int, needle: str) -> int:
    """1-based code-point column of ``needle`` on 1-based ``line``."""
    return text.splitlines()[line - 1].index(needle) + 1


def test_regions_of_a_real_scan_point_at_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = ("apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: a}\nspec:\n  containers:\n"
            "  - name: app\n    image: nginx\n    securityContext:\n      privileged: true\n"
            '  - {name: "side-ü€", image: nginx, securityContext: {privileged: true}}\n')
    Path("pod.yaml").write_text(text, encoding="utf-8")
    result = scan_paths(["pod.yaml"], ScanOptions(select=["pss-privileged"], analyses=False))
    block_col = _line_col(text, 9, "privileged")
    flow_col = _line_col(text, 10, "privileged")
    assert _regions(result) == [
        {"startLine": 9, "startColumn": block_col, "endLine": 9, "endColumn": block_col + len("privileged: true")},
        {"startLine": 10, "startColumn": flow_col, "endLine": 10, "endColumn": flow_col + len("privileged: true")},
    ]
    assert block_col == 7 and flow_col == 55  # code points: "ü" and "€" count one column each
