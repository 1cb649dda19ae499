"""The terminal report: order, grouping, per-rule table, suppressed counts, grand total and verdict, in the compact
and full layouts at 80 and 120 columns (Rich's recording console, as the CLI prints it)."""

from __future__ import annotations

import dataclasses
import re

import pytest

from scanner.model import Finding, Location, ResourceId, ScanResult, Severity, fingerprint
from scanner.report import rich_report
from scanner.report.rich_report import COMPACT, FULL, View
from tests.report.report_sample import RULES, build_result


def shown(results: ScanResult | list[ScanResult], view: View, width: int) -> str:
    console = rich_report._recording_console(width, color=False)
    rich_report.print_report(results, console, view)
    return console.export_text()


def clean(result: ScanResult) -> ScanResult:
    """The sample without input and policy errors (so the verdict is about findings)."""
    return dataclasses.replace(result, input_errors=[], policy_errors=[])


def many(count: int, rule_id: str = "pss-run-as-non-root", severity: Severity = Severity.MEDIUM) -> list[Finding]:
    """``count`` objects that one rule fires on, one file each."""
    out = []
    for index in range(count):
        res = ResourceId(api_version="apps/v1", kind="Deployment", name=f"app-{index:03d}", namespace="shop")
        path = ("spec", "template", "spec", "containers", 0, "securityContext")
        out.append(Finding(rule_id=rule_id, severity=severity, category="pod-security", tags=("pod-security",),
                           message=f"Container c in Deployment app-{index:03d} may run as root",
                           resource=res, location=Location(path=f"manifests/app-{index:03d}.yaml", line=20, column=9,
                                                       end_line=20, end_column=24),
                           field_path=path, fingerprint=fingerprint(rule_id, res, path, "")))
    return out


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("layout", [COMPACT, FULL])
def test_fits_the_width_and_keeps_the_verdict_on_one_line(layout: str, width: int) -> None:
    result = build_result()
    result.findings.extend(many(30))
    text = shown(result, View.terminal(layout), width)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    assert "…" not in text  # nothing cut
    assert lines[-1] == "error: 1 input error, 1 policy error; 2 findings >= high (1 critical)"
    assert any(line.startswith("CRITICAL pss-privileged") for line in lines)
    assert "app-000" in text


def test_compact_is_short_and_full_has_the_details() -> None:
    result = clean(build_result())
    compact = shown(result, View.terminal(COMPACT), 80)
    full = shown(result, View.terminal(FULL), 120)
    assert len(compact.splitlines()) < len(full.splitlines()) <= 80
    assert "field: spec.template.spec.containers[0].securityContext.privileged" in full
    assert "field:" not in compact and "Related:" not in compact and "Related:" in full
    assert "Findings by severity and category" in full and "Findings by severity and category" not in compact
    assert "6 files scanned, 7 resources" in compact
    for text in (compact, full):
        assert text.index("CRITICAL pss-privileged") < text.index("HIGH     rbac-wildcard-verbs") \
            < text.index("MEDIUM   seg-default-deny")
        assert "Fix: Remove securityContext.privileged or set it to false." in text


def test_verdicts() -> None:
    result = clean(build_result())
    assert rich_report.verdict([result], Severity.HIGH).plain == "blocked: 2 findings >= high (1 critical)"
    assert rich_report.verdict([result], Severity.CRITICAL).plain == "blocked: 1 finding >= critical"
    assert rich_report.verdict([result], Severity.MEDIUM).plain == \
        "blocked: 4 findings >= medium (1 critical, 1 high)"
    result.findings[:] = [f for f in result.findings if f.severity < Severity.HIGH]
    assert rich_report.verdict([result], Severity.HIGH).plain == \
        "passed: no finding >= high (reported: 2 medium)"
    assert rich_report.verdict([result], None).plain == "passed (--fail-on none; reported: 2 medium)"
    assert rich_report.verdict([ScanResult(findings=[])], Severity.HIGH).plain == "passed: no finding >= high"
    info = dataclasses.replace(many(1)[0], severity=Severity.INFO)
    assert rich_report.verdict([ScanResult(findings=[info])], Severity.INFO).plain.startswith("passed")  # as exit 0
    assert rich_report.verdict([build_result()], Severity.HIGH).plain.startswith("error: 1 input error")


def test_verdict_agrees_with_the_exit_code() -> None:
    for threshold in (*Severity, None):
        for result in (clean(build_result()), build_result(), ScanResult(findings=many(2))):
            word = rich_report.verdict([result], threshold).plain.split(":")[0].split(" ")[0]
            assert {"passed": 0, "blocked": 1, "error": 2}[word] == result.exit_code(threshold), (threshold, word)


def test_a_rule_on_many_objects_shows_a_count_and_the_first_few() -> None:
    result = ScanResult(findings=many(400), rules=list(RULES), resources=400)
    compact = shown(result, View.terminal(COMPACT), 80)
    assert "MEDIUM   pss-run-as-non-root (400 findings, 400 objects)" in compact
    assert re.findall(r"app-\d{3}\.yaml", compact) == ["app-000.yaml", "app-001.yaml", "app-002.yaml"]
    assert "... and 397 more (every one in --format json or sarif)" in compact
    assert len(compact.splitlines()) < 40
    full = shown(result, View.terminal(FULL), 120)
    assert len(re.findall(r"app-\d{3}\.yaml", full)) == 10 and "... and 390 more" in full
    every = rich_report.render(result)  # the text file lists every object
    assert len(re.findall(r"app-\d{3}\.yaml:20:9", every)) == 400 and "more (every one" not in every


def test_per_rule_table_for_large_results() -> None:
    result = ScanResult(findings=[*many(25), *many(3, "pss-privileged", Severity.CRITICAL)], rules=list(RULES))
    text = shown(result, View.terminal(COMPACT), 80)
    table = text[text.index("Findings by rule"):]
    rows = {m.group(2): m.group(3).split() for m in re.finditer(r"^(critical|medium)\s+(\S+)\s+(.*)$", table,
                                                                 re.MULTILINE)}
    assert rows == {"pss-privileged": ["3", "3", "3"], "pss-run-as-non-root": ["25", "25", "25"]}
    assert table.index("pss-privileged") < table.index("pss-run-as-non-root")
    assert "Findings by rule" not in shown(clean(build_result()), View.terminal(COMPACT), 80)


def test_same_rule_object_and_line_show_once_with_every_reason() -> None:
    role = ResourceId(api_version="rbac.authorization.k8s.io/v1", kind="ClusterRole", name="wild")
    reasons = [f"ClusterRole wild grants {verb} on every resource" for verb in ("get", "create", "delete")]
    findings = [Finding(rule_id="rbac-wildcard-verbs", severity=Severity.HIGH, category="rbac", tags=("rbac",),
                        message=reason, resource=role, location=Location(path="rbac.yaml", line=7, column=5 + i, end_line=7,
                                                          end_column=9 + i),
                        field_path=("rules", 0, "verbs", i), fingerprint=f"fp{i}")
                for i, reason in enumerate(reasons)]
    for layout in LAYOUTS_AND_WIDTHS:
        text = shown(ScanResult(findings=findings, rules=list(RULES)), View.terminal(*layout[:1]), layout[1])
        assert text.count("rbac.yaml:7:") == 1 and text.count("HIGH     rbac-wildcard-verbs") == 1
        assert "(3 findings, 1 object)" in text
        assert all(f"{reason}." in text for reason in reasons)
        assert text.count("Fix:") == 1
        assert text.splitlines()[-1] == "blocked: 3 findings >= high"


LAYOUTS_AND_WIDTHS = [(COMPACT, 80), (FULL, 120)]


def test_suppressed_counted_and_listed_only_on_request() -> None:
    result = clean(build_result())
    hidden = shown(result, View.terminal(COMPACT), 80)
    assert "Suppressed: 2 (1 annotation, 1 baseline)" in " ".join(hidden.split())
    assert "gateway binds port 80" not in hidden
    listed = shown(result, View.terminal(COMPACT, show_suppressed=True), 80)
    assert "Suppressed (2)" in listed and "gateway binds port 80" in " ".join(listed.split())
    assert "gateway binds port 80" in rich_report.render(result)  # the text file lists them


def test_several_runs_one_grand_total_and_one_verdict() -> None:
    production = clean(build_result())
    staging = dataclasses.replace(clean(build_result()), category="kguard/staging")
    development = ScanResult(findings=[], category="kguard/development", scanned=["a.yaml"], resources=3)
    text = shown([production, staging, development], View.terminal(COMPACT), 80)
    assert "kguard/development: no unsuppressed findings (1 file scanned, 3 resources)" in " ".join(text.split())
    assert "Findings by severity and category" not in text  # no tables of zeros
    total = text[text.index("Total across 3 runs"):]
    rows = {line.split()[0]: line.split()[1:] for line in total.splitlines()[1:] if line.strip()
            and not set(line.strip()) <= {"─"}}
    assert rows["production"] == ["1", "1", "2", "0", "0", "2", "0"]
    assert rows["development"] == ["0"] * 7
    assert rows["total"] == ["2", "2", "4", "0", "0", "4", "0"]
    assert text.splitlines()[-1] == "blocked: 4 findings >= high (2 critical)"
    assert text.count("blocked:") == 1


@pytest.mark.parametrize(("tty", "width", "environ", "layout"), [
    (True, 120, {}, FULL),
    (True, 80, {}, COMPACT),
    (False, 200, {}, COMPACT),
    (True, 200, {"PRE_COMMIT": "1"}, COMPACT),
])
def test_choose_layout(tty: bool, width: int, environ: dict[str, str], layout: str) -> None:
    assert rich_report.choose_layout(tty, width, environ) == layout


def test_hostile_names_stay_on_their_line() -> None:
    result = ScanResult(findings=many(1), rules=list(RULES))
    finding = result.findings[0]
    result.findings[0] = dataclasses.replace(finding, message="x\n::error ::forged\x1b[2J",
                                             resource=dataclasses.replace(finding.resource, name="[bold]n[/bold]"))
    text = rich_report.render(result)
    assert "\x1b" not in text and "\n::error" not in text and "[bold]n[/bold]" in text


def test_compact_details_only_what_blocks() -> None:
    result = clean(build_result())
    brief = shown(result, View.terminal(COMPACT, Severity.HIGH), 80)
    assert "Namespace shop has no default-deny" not in brief and "Fix: Add a NetworkPolicy" not in brief
    assert "manifests/base/namespaces/shop ns.yaml:1:1  Namespace shop" in brief  # still shows where
    detailed = shown(result, View.terminal(COMPACT, Severity.MEDIUM), 80)
    assert "Namespace shop has no default-deny" in detailed and "Fix: Add a NetworkPolicy" in detailed
    assert "Namespace shop has no default-deny" in shown(result, View.terminal(FULL, Severity.HIGH), 120)
