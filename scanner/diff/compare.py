"""Findings of two revisions matched by fingerprint: new, absent (fixed), unchanged, updated.

The fingerprint (`scanner.model.fingerprint`) holds no line number, so a finding whose lines only moved is
unchanged. Two findings with one fingerprint are paired in report order; the surplus is new or absent.
A finding present in both whose severity or suppression differs is ``updated`` (SARIF's term).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from scanner.model import Finding, Severity
from scanner.report._common import finding_fingerprint, sort_findings

STATES = ("new", "updated", "absent", "unchanged")  # SARIF baselineState values, in report order


@dataclass(frozen=True, slots=True)
class FindingChange:
    """One finding and its state; ``finding`` is the head's (the base's when absent), ``before`` the base's."""

    state: str
    finding: Finding
    before: Finding | None = None

    @property
    def fingerprint(self) -> str:
        return finding_fingerprint(self.finding)

    def introduced(self, threshold: Severity | None) -> bool:
        """Whether the change brings this finding in at or above ``threshold`` (new, or raised to it)."""
        f = self.finding
        if threshold is None or f.suppressed or f.severity <= Severity.INFO or f.severity < threshold:
            return False
        if self.state == "new":
            return True
        before = self.before
        return self.state == "updated" and before is not None and (
            before.suppressed or before.severity < threshold)


def _updated(before: Finding, after: Finding) -> bool:
    return before.severity != after.severity or before.suppressed != after.suppressed


def compare_findings(base: list[Finding], head: list[Finding]) -> list[FindingChange]:
    """Every finding of either side with its state, head's in report order, then the absent ones."""
    waiting: dict[str, list[Finding]] = defaultdict(list)
    for finding in sort_findings(base):
        waiting[finding_fingerprint(finding)].append(finding)
    out: list[FindingChange] = []
    for finding in sort_findings(head):
        queue = waiting.get(finding_fingerprint(finding))
        if queue:
            before = queue.pop(0)
            out.append(FindingChange("updated" if _updated(before, finding) else "unchanged", finding, before))
        else:
            out.append(FindingChange("new", finding))
    left = [finding for queue in waiting.values() for finding in queue]
    return out + [FindingChange("absent", finding) for finding in sort_findings(left)]
