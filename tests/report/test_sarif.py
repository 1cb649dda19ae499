"""SARIF report: structure GitHub relies on, schema validity, determinism, golden file."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import jsonschema
import pytest

from scanner.engine.catalogue import SECURITY_SEVERITY
from scanner.model import InputError, Location, RelatedLocation, ScanResult, Severity
from scanner.report import sarif
from tests.report.report_sample import build_result, check_golden

SCHEMA = Path(__file__).parent / "schemas" / "sarif-2.1.0-rtm.5.json"


def _log(result: ScanResult | list[ScanResult], **kwargs: object) -> dict:
    return json.loads(sarif.render(result, **kwargs))  # type: ignore[arg-type]


def test_golden(scan_result: ScanResult) -> None:
    check_golden("kguard.sarif", sarif.render(scan_result))


def test_valid_against_official_schema(scan_result: ScanResult) -> None:
    schema = json.loads(SCHEMA.read_text())
    other = dataclasses.replace(build_result(), category="kguard/staging")
    errors = list(jsonschema.Draft4Validator(schema).iter_errors(_log([scan_result, other])))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_schema_catches_invalid_sarif(scan_result: ScanResult) -> None:
    log = _log(scan_result)
    log["runs"][0]["results"][0]["level"] = "fatal"
    assert list(jsonschema.Draft4Validator(json.loads(SCHEMA.read_text())).iter_errors(log))


def test_header_and_driver(scan_result: ScanResult) -> None:
    log = _log(scan_result)
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "kguard"
    assert driver["semanticVersion"]
    assert driver["informationUri"].startswith("https://")
    assert run["columnKind"] == "unicodeCodePoints"
    assert run["automationDetails"]["id"] == "kguard/production/"
    assert "%SRCROOT%" in run["originalUriBaseIds"]


def test_rule_index_matches_and_every_rule_id_is_declared(scan_result: ScanResult) -> None:
    run = _log(scan_result)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids))
    assert run["results"]
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    assert {"rbac-unused-rule", "extra-template-rule"} <= set(ids)  # rule without results; rule without entry


def test_rule_metadata(scan_result: ScanResult) -> None:
    rules = {r["id"]: r for r in _log(scan_result)["runs"][0]["tool"]["driver"]["rules"]}
    priv = rules["pss-privileged"]
    assert priv["name"] == "KguardPssPrivileged"
    assert priv["shortDescription"]["text"] == "Privileged containers"
    assert priv["defaultConfiguration"]["level"] == "error"
    assert priv["helpUri"] == "https://kubernetes.io/docs/concepts/security/pod-security-standards/"
    assert "Remediation" in priv["help"]["text"] and "**Remediation:**" in priv["help"]["markdown"]
    props = priv["properties"]
    assert props["tags"][0] == "pod-security"
    assert props["security-severity"] == SECURITY_SEVERITY[Severity.CRITICAL]
    assert props["precision"] == "high"
    assert (props["pss-level"], props["pss-check"]) == ("baseline", "privileged")
    assert rules["pss-run-as-non-root"]["properties"]["pss-check"] == ["runAsNonRoot", "runAsUser"]
    assert "pss-level" not in rules["rbac-wildcard-verbs"]["properties"]
    assert "helpUri" not in rules["seg-default-deny"]
    for rule in rules.values():
        assert 0 < len(rule["fullDescription"]["text"]) <= 1024
        assert rule["shortDescription"]["text"]
        assert rule["properties"]["category"] in rule["properties"]["tags"]
        assert len(rule["properties"]["tags"]) <= 10
        assert 0 < float(rule["properties"]["security-severity"]) <= 10


@pytest.mark.parametrize(("severity", "level"), [(Severity.CRITICAL, "error"), (Severity.HIGH, "error"),
                                                 (Severity.MEDIUM, "warning"), (Severity.LOW, "note"),
                                                 (Severity.INFO, "note")])
def test_level_from_severity(scan_result: ScanResult, severity: Severity, level: str) -> None:
    scan_result.findings = [dataclasses.replace(scan_result.findings[0], severity=severity)]
    (result,) = _log(scan_result)["runs"][0]["results"]
    assert result["level"] == level


def test_results_locations_and_fingerprints(scan_result: ScanResult) -> None:
    results = _log(scan_result)["runs"][0]["results"]
    assert len(results) == len(scan_result.findings)
    for result in results:
        assert result["level"] in {"note", "warning", "error"}
        phys = result["locations"][0]["physicalLocation"]
        uri = phys["artifactLocation"]["uri"]
        assert not uri.startswith(("/", "file:")) and ".." not in uri.split("/")
        assert phys["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        region = phys["region"]
        assert set(region) == {"startLine", "startColumn", "endLine", "endColumn"}
        assert min(region.values()) >= 1
        fps = result["partialFingerprints"]
        assert fps["primaryLocationLineHash"] == fps["kguard/v1"] and len(fps["kguard/v1"]) == 32
    keys = [(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
             r["locations"][0]["physicalLocation"]["region"]["startLine"],
             r["locations"][0]["physicalLocation"]["region"]["startColumn"], r["ruleId"]) for r in results]
    assert keys == sorted(keys)


def test_result_details(scan_result: ScanResult) -> None:
    results = {r["ruleId"]: r for r in _log(scan_result)["runs"][0]["results"]}
    rbac = results["rbac-wildcard-verbs"]
    assert rbac["message"]["text"] == ("ClusterRole shop-admin grants every verb on deployments. "
                                       "Remediation: List the verbs the subject needs (get, list, watch).")
    assert rbac["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "ClusterRole/shop-admin"
    assert rbac["properties"]["field-path"] == "rules[0].verbs"
    related = rbac["relatedLocations"]
    assert [r["id"] for r in related] == [1, 2]
    assert related[0]["physicalLocation"]["region"]["startLine"] == 20
    assert "physicalLocation" not in related[1]
    assert related[1]["logicalLocations"][0]["fullyQualifiedName"] == "tools/ServiceAccount/ci"
    priv = results["pss-privileged"]
    assert priv["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "production/Deployment/api-gateway"
    assert "suppressions" not in priv
    deny = results["seg-default-deny"]
    assert "field-path" not in deny["properties"]
    # a space is percent-encoded; an overlay's ../ path is normalised to the base file
    assert deny["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == \
        "manifests/base/namespaces/shop%20ns.yaml"
    frontend = next(r for r in _log(scan_result)["runs"][0]["results"] if "frontend" in r["message"]["text"])
    assert frontend["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == \
        "manifests/base/frontend/deployment.yaml"


def test_suppressions(scan_result: ScanResult) -> None:
    results = _log(scan_result)["runs"][0]["results"]
    suppressed = {r["ruleId"]: r["suppressions"] for r in results if "suppressions" in r}
    assert suppressed == {
        "pss-run-as-non-root": [{"kind": "inSource", "status": "accepted",
                                 "justification": "gateway binds port 80 until SHOP-142",
                                 "properties": {"owner": "platform-team", "expires": "2027-01-31"}}],
        "extra-template-rule": [{"kind": "external", "status": "accepted",
                                 "justification": "tracked in the baseline"}],
    }


def test_notifications_cover_every_problem(scan_result: ScanResult) -> None:
    run = _log(scan_result)["runs"][0]
    invocation = run["invocations"][0]
    assert invocation["executionSuccessful"] is False
    descriptors = run["tool"]["driver"]["notifications"]
    execution = invocation["toolExecutionNotifications"]
    kinds = [descriptors[n["descriptor"]["index"]]["id"] for n in execution]
    assert kinds == ["input-error", "skipped-input", "not-evaluated", "coverage-gap"]
    assert [n["descriptor"]["id"] for n in execution] == kinds
    error = execution[0]
    assert error["level"] == "error"
    assert error["message"]["text"] == "manifests/broken.yaml:7: mapping values are not allowed here"
    assert error["locations"][0]["physicalLocation"]["region"] == {"startLine": 7}
    assert "kube-system" in execution[3]["message"]["text"]
    (policy,) = invocation["toolConfigurationNotifications"]
    assert policy["level"] == "error" and "timed out" in policy["message"]["text"]
    rules = run["tool"]["driver"]["rules"]
    assert rules[policy["associatedRule"]["index"]]["id"] == "rbac-unused-rule"


def test_clean_run_is_successful() -> None:
    run = _log(ScanResult(findings=[]))["runs"][0]
    assert run["invocations"][0]["executionSuccessful"] is True
    assert run["results"] == []
    assert "toolExecutionNotifications" not in run["invocations"][0]


def test_several_runs_need_distinct_categories(scan_result: ScanResult) -> None:
    staging = dataclasses.replace(build_result(), category="kguard/staging")
    log = _log([scan_result, staging])
    assert [r["automationDetails"]["id"] for r in log["runs"]] == ["kguard/production/", "kguard/staging/"]
    with pytest.raises(ValueError, match="distinct categories"):
        sarif.render([scan_result, build_result()])


def test_deterministic_regardless_of_input_order(scan_result: ScanResult) -> None:
    first = sarif.render(scan_result)
    shuffled = build_result()
    rng = random.Random(7)
    for name in ("findings", "skipped", "rules", "policy_errors"):
        rng.shuffle(getattr(shuffled, name))
    assert sarif.render(shuffled) == first
    assert sarif.render(build_result()) == first


def test_absolute_paths_become_relative(tmp_path: Path, scan_result: ScanResult) -> None:
    finding = scan_result.findings[0]
    inside = dataclasses.replace(finding, location=dataclasses.replace(
        finding.location, path=str(tmp_path / "repo" / "manifests" / "a b.yaml")))
    outside = dataclasses.replace(finding, rule_id="pss-privileged", location=Location(
        path="/elsewhere/x.yaml", line=2, column=1, end_line=2, end_column=5))
    result = ScanResult(findings=[inside, outside], rules=scan_result.rules)
    run = _log(result, source_root=tmp_path / "repo")["runs"][0]
    uris = sorted(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"])
    assert uris[1] == "manifests/a%20b.yaml"
    assert not uris[0].startswith("/") and uris[0].endswith("elsewhere/x.yaml")
    (note,) = run["invocations"][0]["toolExecutionNotifications"]
    assert note["descriptor"]["id"] == "outside-source-root"


def test_a_related_location_outside_the_root_is_noted_once(tmp_path: Path, scan_result: ScanResult) -> None:
    finding = scan_result.findings[0]
    elsewhere = Location(path="/elsewhere/peer.yaml", line=3, column=1, end_line=3, end_column=9)
    inside = dataclasses.replace(finding, location=dataclasses.replace(finding.location, path="manifests/a.yaml"),
                                 related=(RelatedLocation(resource=finding.resource, location=elsewhere,
                                                          message="the peer"),))
    twice = dataclasses.replace(inside, rule_id="pss-privileged")
    run = _log(ScanResult(findings=[inside, twice], rules=scan_result.rules), source_root=tmp_path)["runs"][0]
    (note,) = run["invocations"][0]["toolExecutionNotifications"]
    assert note["descriptor"]["id"] == "outside-source-root"
    assert "elsewhere/peer.yaml is outside the source root" in note["message"]["text"]
    assert [r["ruleId"] for r in run["results"]] == sorted([inside.rule_id, "pss-privileged"])


def test_full_description_clipped(scan_result: ScanResult) -> None:
    rules = {r["id"]: r for r in _log(scan_result)["runs"][0]["tool"]["driver"]["rules"]}
    text = rules["seg-default-deny"]["fullDescription"]["text"]
    assert 1000 < len(text) <= 1024 and text.endswith("…")


def _rule_with(**changes: object) -> ScanResult:
    result = build_result()
    result.rules = [dataclasses.replace(result.rules[0], **changes), *result.rules[1:]]
    return result


def _driver_rule(result: ScanResult, rule_id: str = "pss-privileged") -> dict:
    return next(r for r in _log(result)["runs"][0]["tool"]["driver"]["rules"] if r["id"] == rule_id)


def test_tags_are_the_category_then_the_others_once_at_most_ten() -> None:
    """GitHub code scanning keeps at most 10 tags per rule; the category leads and is not repeated, even when the
    metadata spells it as another string object."""
    category = "-".join(["pod", "security"])  # equal to the tags' "pod-security", not the same object
    tags = ("pod-security", "pss-baseline", "pss-baseline", *(f"t{n}" for n in range(12)))
    props = _driver_rule(_rule_with(category=category, tags=tags))["properties"]
    assert props["tags"] == ["pod-security", "pss-baseline", *(f"t{n}" for n in range(8))]


def test_prose_from_policy_metadata_reads_as_one_line() -> None:
    """Titles and remediations are often YAML block scalars: their line breaks become spaces, not escapes."""
    result = _rule_with(title="Privileged\ncontainers\n")
    result.findings = [dataclasses.replace(f, remediation="Remove\nprivileged.") if f.rule_id == "pss-privileged"
                       else f for f in result.findings]
    assert _driver_rule(result)["shortDescription"]["text"] == "Privileged containers"
    (message,) = [r["message"]["text"] for r in _log(result)["runs"][0]["results"] if r["ruleId"] == "pss-privileged"]
    assert message.endswith("Remediation: Remove privileged.")


def test_notifications_are_ordered_by_file_line_and_message_whatever_the_input_order() -> None:
    errors = [InputError(path="a.yaml", line=3, message="b second"), InputError(path="a.yaml", line=3,
                                                                                  message="a first"),
              InputError(path="a.yaml", line=1, message="on line one"),
              InputError(path="a.yaml", line=None, message="z the whole file")]
    texts = []
    for order in (errors, errors[::-1]):
        run = _log(ScanResult(findings=[], input_errors=list(order)))["runs"][0]
        texts.append([n["message"]["text"] for n in run["invocations"][0]["toolExecutionNotifications"]])
    assert texts[0] == texts[1] == ["a.yaml: z the whole file", "a.yaml:1: on line one", "a.yaml:3: a first",
                                    "a.yaml:3: b second"]


def _apply(text: str, change: dict) -> str:
    """SARIF 2.1.0 §3.57: each replacement deletes its region of the original content (character offsets) and
    inserts its content there; regions do not overlap, so applying them from the end keeps the offsets valid."""
    for replacement in sorted(change["replacements"], key=lambda r: r["deletedRegion"]["charOffset"], reverse=True):
        region = replacement["deletedRegion"]
        start, length = region["charOffset"], region["charLength"]
        text = text[:start] + replacement.get("insertedContent", {}).get("text", "") + text[start + length:]
    return text


@pytest.mark.parametrize(("old", "new"), [
    ("a: 1\nb: 2\nc: 3\n", "a: 1\nb: 20\nc: 3\n"),  # a changed line in the middle
    ("a: 1\nb: 2\n", "a: 1\nb: 2\nc: 3\n"),  # lines added at the end
    ("a: 1\nb: 2\nc: 3\nd: 4\n", "b: 2\nd: 4\n"),  # lines deleted (first, and between)
    ("ä: 1\nb: 2\nc: 3\n", "ä: 1\nb: 2\nc: 30\n"),  # offsets in characters, not bytes
    (None, "kind: NetworkPolicy\n"),  # a new file
])
def test_a_fix_turns_the_old_text_into_the_new_one(old: str | None, new: str) -> None:
    fix = sarif.fix_object("set b", [("manifests/x.yaml", old, new)])
    (change,) = fix["artifactChanges"]
    assert fix["description"] == {"text": "set b"}
    assert change["artifactLocation"] == {"uri": "manifests/x.yaml", "uriBaseId": "%SRCROOT%"}
    assert _apply(old or "", change) == new
    assert all(r["deletedRegion"]["charLength"] >= 0 for r in change["replacements"])


def test_a_fix_changes_each_file_once_in_path_order() -> None:
    fix = sarif.fix_object("two files", [("b.yaml", "x: 1\n", "x: 2\n"), ("a.yaml", "y: 1\n", "y: 2\n")])
    assert [c["artifactLocation"]["uri"] for c in fix["artifactChanges"]] == ["a.yaml", "b.yaml"]
    assert [_apply(old, c) for old, c in zip(("y: 1\n", "x: 1\n"), fix["artifactChanges"], strict=True)] == [
        "y: 2\n", "x: 2\n"]


def test_fixes_are_attached_to_the_result_with_their_fingerprint_and_nothing_else_changes(
        scan_result: ScanResult) -> None:
    log_text = sarif.render(scan_result)
    assert sarif.attach_fixes(log_text, {}) == log_text
    first = json.loads(log_text)["runs"][0]["results"][0]
    fix = sarif.fix_object("fix it", [("a.yaml", "a: 1\n", "a: 2\n")])
    fixed = json.loads(sarif.attach_fixes(log_text, {first["partialFingerprints"]["kguard/v1"]: fix}))
    results = fixed["runs"][0]["results"]
    assert results[0]["fixes"] == [fix]
    assert all("fixes" not in r for r in results[1:])


def test_a_pure_deletion_has_no_inserted_content() -> None:
    """SARIF §3.57: a replacement without insertedContent deletes its region."""
    fix = sarif.fix_object("drop b", [("x.yaml", "a: 1\nb: 2\nc: 3\n", "a: 1\nc: 3\n")])
    (replacement,) = fix["artifactChanges"][0]["replacements"]
    assert replacement == {"deletedRegion": {"charOffset": 5, "charLength": 5}}


def test_a_description_of_exactly_the_limit_is_kept_whole() -> None:
    text = "x" * 1023 + "."
    assert len(text) == sarif.MAX_DESCRIPTION
    assert _driver_rule(_rule_with(description=text))["fullDescription"]["text"] == text


def test_property_bags_written_directly_equal_the_sarif_om_way() -> None:
    """A property named like a well-known SARIF key (a coverage gap's `kind`) is ordered as `to_json` orders it."""
    props = {"zeta": 1, "kind": "Secret", "namespace": "a"}
    direct = sarif._property_json(props, tags=["t"])
    assert json.dumps(direct) == json.dumps(sarif.to_json(sarif.property_bag(props, tags=["t"])))
    assert next(iter(direct)) == "kind"
