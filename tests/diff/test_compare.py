"""Findings matched by fingerprint: moved lines are unchanged, a surplus copy is new or absent, a changed severity
or suppression is updated, and only what the change brings in at or above the threshold blocks."""

from __future__ import annotations

import dataclasses

from scanner.diff.compare import compare_findings
from scanner.model import Finding, Location, ResourceId, Severity, Suppression, fingerprint

POD = ResourceId(api_version="v1", kind="Pod", name="web", namespace="shop")


def finding(rule: str = "pss-privileged", line: int = 10, severity: Severity = Severity.CRITICAL,
            source: str = "a.yaml#0") -> Finding:
    return Finding(rule_id=rule, severity=severity, category="pod-security", tags=(), message=f"{rule} message",
                   resource=POD, location=Location(path="a.yaml", line=line, column=1, end_line=line, end_column=5),
                   fingerprint=fingerprint(rule, POD, ("spec",), f"{rule} message", source))


def states(base: list[Finding], head: list[Finding]) -> list[tuple[str, str, int]]:
    return [(c.state, c.finding.rule_id, c.finding.location.line) for c in compare_findings(base, head)]


def test_moved_line_is_unchanged_at_its_new_line() -> None:
    changes = compare_findings([finding(line=10)], [finding(line=14)])
    assert [(c.state, c.finding.location.line, c.before and c.before.location.line) for c in changes] == [
        ("unchanged", 14, 10)]
    assert not changes[0].introduced(Severity.LOW)


def test_new_and_absent() -> None:
    assert states([finding("pss-host-ports")], [finding("pss-privileged")]) == [
        ("new", "pss-privileged", 10), ("absent", "pss-host-ports", 10)]


def test_surplus_copy_is_new() -> None:
    assert states([finding(line=3)], [finding(line=3), finding(line=3)]) == [("unchanged", "pss-privileged", 3),
                                                                           ("new", "pss-privileged", 3)]
    assert states([finding(line=3), finding(line=3)], [finding(line=3)]) == [("unchanged", "pss-privileged", 3),
                                                                           ("absent", "pss-privileged", 3)]


def test_other_source_file_is_another_finding() -> None:
    assert [s for s, *_ in states([finding(source="a.yaml#0")], [finding(source="b.yaml#0")])] == ["new", "absent"]


def test_updated_severity_and_suppression() -> None:
    low = finding(severity=Severity.LOW)
    high = finding(severity=Severity.HIGH)
    raised = compare_findings([low], [high])[0]
    assert raised.state == "updated" and raised.introduced(Severity.HIGH)
    lowered = compare_findings([high], [low])[0]
    assert lowered.state == "updated" and not lowered.introduced(Severity.LOW)
    suppressed = dataclasses.replace(high, suppression=Suppression(kind="inSource", justification="ok"))
    unsuppressed = compare_findings([suppressed], [high])[0]
    assert unsuppressed.state == "updated" and unsuppressed.introduced(Severity.HIGH)
    assert not compare_findings([high], [suppressed])[0].introduced(Severity.LOW)


def test_threshold() -> None:
    new = compare_findings([], [finding(severity=Severity.MEDIUM)])[0]
    assert new.introduced(Severity.MEDIUM) and not new.introduced(Severity.HIGH) and not new.introduced(None)
    info = compare_findings([], [finding(severity=Severity.INFO)])[0]
    assert not info.introduced(Severity.INFO)
