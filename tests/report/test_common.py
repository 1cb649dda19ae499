"""Shared report helpers: field paths, repository-relative paths and URIs, stand-in rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.model import ScanResult, Severity
from scanner.report._common import format_field_path, path_to_uri, relative_posix_path, report_rules


@pytest.mark.parametrize(("path", "text"), [
    ((), ""),
    (("spec", "containers", 0, "securityContext"), "spec.containers[0].securityContext"),
    (("metadata", "labels", "pod-security.kubernetes.io/enforce"),
     'metadata.labels["pod-security.kubernetes.io/enforce"]'),
    ((0, "name"), "[0].name"),
])
def test_format_field_path(path: tuple[str | int, ...], text: str) -> None:
    assert format_field_path(path) == text


@pytest.mark.parametrize(("given", "expected"), [
    ("manifests/base/a.yaml", ("manifests/base/a.yaml", True)),
    ("./manifests/overlays/prod/../../base/a.yaml", ("manifests/base/a.yaml", True)),
    ("manifests\\base\\a.yaml", ("manifests/base/a.yaml", True)),
    ("/repo/manifests/a.yaml", ("manifests/a.yaml", True)),
    ("/other/a.yaml", ("../other/a.yaml", False)),
    ("../outside.yaml", ("../outside.yaml", False)),
    ("D:/x/a.yaml", ("D:/x/a.yaml", False)),
])
def test_relative_posix_path(given: str, expected: tuple[str, bool]) -> None:
    assert relative_posix_path(given, Path("/repo")) == expected


def test_path_to_uri_percent_encodes() -> None:
    assert path_to_uri("dir with space/ü#1.yaml") == "dir%20with%20space/%C3%BC%231.yaml"
    assert path_to_uri("a:b/c.yaml") == "a%3Ab/c.yaml"  # never read as a URI scheme


def test_stand_in_rule_for_unknown_rule_id(scan_result: ScanResult) -> None:
    rules = {r.id: r for r in report_rules(scan_result)}
    stand_in = rules["extra-template-rule"]
    assert stand_in.kind == "ExtraTemplateRule"
    assert stand_in.severity == Severity.LOW and stand_in.category == "segmentation"
    assert list(rules) == sorted(rules)
