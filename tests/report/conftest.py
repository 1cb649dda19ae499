"""Fixtures of the report tests."""

from __future__ import annotations

import pytest

from scanner.model import ScanResult
from tests.report.report_sample import build_result


@pytest.fixture
def scan_result() -> ScanResult:
    """A fresh copy of the shared sample result (tests may change it)."""
    return build_result()
