"""Suppression rules pinned down where mutation testing found them loose (scanner/suppress.py): the reason rule of
docs/suppressions.md, annotations on findings that name no copy (live audits), and the baseline's count."""

from __future__ import annotations

import dataclasses
import datetime as dt

from scanner.config import SuppressionPolicy
from scanner.load.files import load_text
from scanner.model import Finding, Location, ScanResult, Severity
from scanner.suppress import IgnoreEntry, apply_baseline, apply_inline, finding_id, policy_problem

TODAY = dt.date(2026, 12, 1)
POD = """apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
  annotations:
    kguard.io/ignore: "pss-privileged: {reason}"
spec:
  containers: [{{name: app, image: nginx}}]
"""


def _finding(resource, occurrence: str) -> Finding:
    return Finding(rule_id="pss-privileged", severity=Severity.MEDIUM, category="pod-security", tags=(),
                   message="privileged", resource=resource.identity,
                   location=Location(path=resource.path, line=1, column=1, end_line=1, end_column=2),
                   field_path=("spec",), remediation="", occurrence=occurrence)


def test_a_reason_needs_ten_characters_three_of_them_letters_or_digits() -> None:
    policy = SuppressionPolicy()

    def problem(reason: str) -> str | None:
        return policy_problem(IgnoreEntry(rules=("pss-privileged",), reason=reason), policy, TODAY)

    assert problem("abc.......") is None  # ten characters, three alphanumeric
    assert "too short" in (problem("ab........") or "")  # only two letters
    assert "too short" in (problem("abcdefghi") or "")  # nine characters
    long_policy = dataclasses.replace(policy, min_reason_length=3)
    assert policy_problem(IgnoreEntry(rules=("x",), reason="a1b"), long_policy, TODAY) is None


def test_an_annotation_covers_a_finding_that_names_no_copy_only_when_the_object_is_unique() -> None:
    """Live audits' findings carry no occurrence; the annotation of the one copy read still covers them."""
    (pod,) = load_text(POD.format(reason="reviewed by the platform team"), "live/pod.yaml").resources
    (marked,), errors = apply_inline([_finding(pod, "")], [pod], today=TODAY)
    assert errors == [] and marked.suppression is not None
    assert marked.suppression.justification == "reviewed by the platform team"
    twice = load_text(POD.format(reason="reviewed by the platform team") + "---\n" + POD.format(reason="again, reviewed"),
                      "live/pods.yaml").resources
    (ambiguous,), _ = apply_inline([_finding(twice[0], "")], twice, today=TODAY)
    assert ambiguous.suppression is None  # two copies: which annotation would apply is unknown
    (own,), _ = apply_inline([_finding(twice[1], "live/pods.yaml#1")], twice, today=TODAY)
    assert own.suppression is not None and own.suppression.justification == "again, reviewed"


def test_apply_baseline_counts_what_it_suppressed_in_the_settings() -> None:
    (pod,) = load_text(POD.format(reason="reviewed by the platform team"), "pod.yaml").resources
    findings = [_finding(pod, "pod.yaml#0"), dataclasses.replace(_finding(pod, "pod.yaml#0"), field_path=("x",))]
    result = ScanResult(findings=findings, category="kguard")
    known = {("kguard", finding_id(f)) for f in findings}
    assert apply_baseline([result], known, "baseline.json") == 2
    assert result.settings["suppressions"]["baseline"] == 2
    assert all(f.suppression is not None and f.suppression.kind == "external" for f in result.findings)


def test_the_first_covering_entry_gives_the_justification() -> None:
    text = POD.format(reason="x").replace(
        '    kguard.io/ignore: "pss-privileged: x"\n',
        '    kguard.io/ignore: |\n      pss-privileged: the named entry comes first\n'
        '      pss-*: the wildcard entry comes second\n')
    (pod,) = load_text(text, "pod.yaml").resources
    (marked,), errors = apply_inline([_finding(pod, "pod.yaml#0")], [pod], today=TODAY)
    assert errors == [] and marked.suppression is not None
    assert marked.suppression.justification == "the named entry comes first"


def test_baselines_drop_only_the_generator_hash_of_configmaps_and_secrets() -> None:
    from scanner.model import ResourceId
    from scanner.suppress import baseline_resource

    def ident(kind: str, name: str) -> ResourceId:
        return ResourceId(api_version="v1" if kind != "Deployment" else "apps/v1", kind=kind, name=name,
                          namespace="shop")

    assert baseline_resource(ident("ConfigMap", "cfg-5f7c9d8b6b")) == ident("ConfigMap", "cfg")
    assert baseline_resource(ident("Secret", "tls-5f7c9d8b6b")) == ident("Secret", "tls")
    assert baseline_resource(ident("Deployment", "web-5f7c9d8b6b")) == ident("Deployment", "web-5f7c9d8b6b")
    assert baseline_resource(ident("ConfigMap", "cfg-plain")) == ident("ConfigMap", "cfg-plain")


def test_baseline_ids_of_generated_objects_keep_the_constraint_apart() -> None:
    from scanner.model import ResourceId, fingerprint

    (pod,) = load_text(POD.format(reason="reviewed by the platform team"), "pod.yaml").resources
    generated = ResourceId(api_version="v1", kind="ConfigMap", name="cfg-5f7c9d8b6b", namespace="shop")
    stable = ResourceId(api_version="v1", kind="ConfigMap", name="cfg", namespace="shop")
    base = dataclasses.replace(_finding(pod, "a.yaml#0"), resource=generated, fingerprint="f" * 32)
    for constraint, rule in [("", "pss-privileged"), ("KguardPssPrivileged/pss-privileged", "pss-privileged"),
                             ("KguardPssPrivileged/strict", "pss-privileged/strict"),
                             ("KguardPssPrivileged/audit", "pss-privileged/audit")]:  # sorts before the rule id
        finding = dataclasses.replace(base, constraint=constraint)
        expected = fingerprint(rule, stable, finding.field_path, finding.message, finding.occurrence)
        assert finding_id(finding) == expected, constraint
    renamed = dataclasses.replace(base, resource=dataclasses.replace(generated, name="cfg-6b8d9c7f5f"))
    assert finding_id(renamed) == finding_id(base)  # a new content hash is the same object


def test_a_baseline_with_an_oversized_integer_is_a_usage_error(tmp_path) -> None:
    import pytest

    from scanner.errors import UsageError
    from scanner.suppress import load_baseline

    path = tmp_path / "baseline.json"
    path.write_text('{"version": 1, "findings": [], "n": ' + "9" * 5000 + "}\n")
    with pytest.raises(UsageError, match="baseline is not valid JSON"):
        load_baseline(path)
