"""What a verify run produces: the status of every suite, test and case."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Case/test/suite states.
PASS, FAIL, SKIP, NOT_EVALUATED = "PASS", "FAIL", "SKIP", "NOT EVALUATED"


class CaseError(Exception):
    """Why a test or case fails before or instead of its assertions."""


@dataclass(slots=True)
class CaseResult:
    name: str
    status: str = PASS
    error: str = ""
    seconds: float = 0.0
    results: list[dict[str, Any]] = field(default_factory=list)  # {"msg", "details"} as gator counts them
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class TestResult:
    name: str
    status: str = PASS
    error: str = ""
    seconds: float = 0.0
    cases: list[CaseResult] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status == FAIL or any(c.status == FAIL for c in self.cases)

    @property
    def total_seconds(self) -> float:
        """The test's own time plus that of its cases."""
        return self.seconds + sum(c.seconds for c in self.cases)


@dataclass(slots=True)
class SuiteResult:
    path: str
    skipped: bool = False
    seconds: float = 0.0
    tests: list[TestResult] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(t.failed for t in self.tests)
