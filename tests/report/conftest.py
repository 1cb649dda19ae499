"""Fixtures of the report tests."""

from __future__ import annotations

import pytest
from report_sample import build_result

from scanner.model import ScanResult


@pytest.fixture
def scan_result() -> ScanResult:
    """A fresh copy of the shared sample result (tests may change it)."""
    return build_result()
