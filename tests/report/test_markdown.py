"""Markdown report (job summary / PR comment): verdict, blocking findings with links, graph summaries, problems,
size limit, escaping, determinism."""

from __future__ import annotations

import dataclasses
import re

from scanner.model import ResourceId, ScanResult, Severity
from scanner.report import markdown
from tests.report.report_sample import build_result, check_golden
from tests.report.test_terminal_layout import clean, many

GITHUB = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/shop",
          "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567"}
GRAPHS = {
    "reachability": {
        "namespaces": [{"name": "shop-dev", "environment": "development"},
                       {"name": "shop-prod", "environment": "production"}],
        "groups": [{"id": "g0", "namespace": "shop-dev", "workloads": ["Deployment a"], "ingress_isolated": False,
                    "egress_isolated": False},
                   {"id": "g1", "namespace": "shop-prod", "workloads": ["Deployment b"], "ingress_isolated": True,
                    "egress_isolated": True}],
        "edges": [{"source": "g0", "destination": "g1", "ports": "TCP 8080", "cross_environment": True},
                  {"source": "g1", "destination": "g0", "ports": "any", "cross_environment": True}],
    },
    "rbac": {"paths": [{"rule": "rbac-escalation-token", "severity": "high", "subject": "Group devs",
                        "binding": "RoleBinding shop/devs", "role": "Role shop/tokens",
                        "permission": "create serviceaccounts/token", "action": "token", "target": "ci",
                        "gains": "read Secrets", "gains_via": "", "more": 0}]},
}


def table_rows(text: str, heading: str) -> list[list[str]]:
    section = text[text.index(heading):]
    section = section[:section.index("\n\n", section.index("|---"))]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in section.splitlines()[4:]]


def test_golden(scan_result: ScanResult) -> None:
    check_golden("kguard.md", markdown.render(scan_result, environ=GITHUB))


def test_verdict_first_and_blocking_findings_with_links() -> None:
    text = markdown.render(clean(build_result()), environ=GITHUB)
    assert text.startswith("## kguard: blocked: 2 findings >= high (1 critical)\n")
    rows = table_rows(text, "### Blocking findings")
    assert [row[0] for row in rows] == ["**critical**", "**high**"]
    assert rows[0][3] == ("[`manifests/base/api-gateway/deployment.yaml:31`](https://github.com/acme/shop/blob/"
                          f"{GITHUB['GITHUB_SHA']}/manifests/base/api-gateway/deployment.yaml#L31)")
    assert rows[0][1] == "[`pss-privileged`](https://kubernetes.io/docs/concepts/security/pod-security-standards/)"
    below = text[text.index("<summary>Findings below the threshold (2)</summary>"):]
    assert "shop%20ns.yaml#L1" in below and "may run as root" in below
    assert "gateway binds port 80" not in text  # suppressed findings are counted, not listed


def test_repository_relative_links_without_github_variables() -> None:
    text = markdown.render(clean(build_result()), environ={})
    assert "](manifests/base/api-gateway/deployment.yaml#L31)" in text and "https://github.com/acme" not in text
    forged = {**GITHUB, "GITHUB_SERVER_URL": "javascript:alert(1)//"}
    assert "javascript" not in markdown.render(clean(build_result()), environ=forged)


def test_threshold_decides_what_blocks() -> None:
    text = markdown.render(clean(build_result()), threshold=Severity.MEDIUM, environ={})
    assert len(table_rows(text, "### Blocking findings")) == 4 and "<details>\n<summary>Findings below" not in text
    assert markdown.render(clean(build_result()), threshold=None, environ={}).startswith("## kguard: passed")


def test_several_runs_one_total() -> None:
    staging = dataclasses.replace(clean(build_result()), category="kguard/staging")
    text = markdown.render([clean(build_result()), staging], environ={})
    counts = text[text.index("| Run |"):].split("\n\n")[0].splitlines()
    assert counts[-1] == "| **total** | **2** | **2** | **4** | **0** | **0** | **4** | **0** |"
    assert text.count("## kguard:") == 1
    assert table_rows(text, "### Blocking findings")[0][-1] == "`kguard/production`"


def test_graph_summaries() -> None:
    result = dataclasses.replace(clean(build_result()), graphs=GRAPHS)
    text = markdown.render(result, environ={})
    graphs = text[text.index("### Graph analyses"):text.index("### Inputs")]
    assert "| `kguard/production` | 2 | 2 (1) | 2 | 2 | 1 | 1 |" in graphs
    assert "- cross-environment: `shop-dev` → `shop-prod`" in graphs
    assert "- escalation (high): `Group devs` → `Role shop/tokens` → `create serviceaccounts/token` → `ci`: " \
           "read Secrets" in graphs
    plain = markdown.render(clean(build_result()), environ={})
    assert "Analysis rules not run" in plain and "| namespaces |" not in plain


def test_problems_listed() -> None:
    text = markdown.render(build_result(), environ={})
    assert text.startswith("## kguard: error: 1 input error, 1 policy error")
    problems = text[text.index("### Inputs"):]
    assert "<summary>Not scanned or not evaluated: 1 input error, 1 policy error, 1 not evaluated, 1 skipped, " \
           "1 coverage gap</summary>" in problems
    assert "- input error: `manifests/broken.yaml:7: mapping values are not allowed here`" in problems


def test_large_result_fits_a_comment() -> None:
    findings = [dataclasses.replace(f, severity=Severity.HIGH) for f in many(5000)]
    text = markdown.render(ScanResult(findings=findings), environ=GITHUB)
    assert len(text) < markdown.MAX_CHARS
    assert len(table_rows(text, "### Blocking findings")) == markdown.MAX_ROWS
    assert "_... and 4950 more: every finding is in the SARIF and JSON reports._" in text


def test_huge_names_are_cut_so_the_report_stays_whole() -> None:
    """50 blocking findings on objects with 100,000-character names still leave room for the inputs and footer."""
    huge = ResourceId(api_version="v1", kind="Pod", name="n" * 100_000, namespace="ns")
    findings = [dataclasses.replace(f, severity=Severity.HIGH, resource=huge) for f in many(60)]
    text = markdown.render(ScanResult(findings=findings), environ=GITHUB)
    assert len(table_rows(text, "### Blocking findings")) == markdown.MAX_ROWS
    assert "### Inputs" in text and "What the scan ran with" in text and "Report cut" not in text
    assert max(len(span) for span in re.findall(r"`[^`]*`", text)) <= markdown.MAX_CELL + 2


def test_hostile_text_is_inert() -> None:
    result = clean(build_result())
    evil = ResourceId(api_version="v1", kind="Pod", name="x`|<img src=x>", namespace="ns")
    result.findings[0] = dataclasses.replace(
        result.findings[0], resource=evil,
        message="a | b [link](https://evil.example) <script>alert(1)</script> @admin\n## heading\x1b[2J",
        location=dataclasses.replace(result.findings[0].location, path="dir/a|b`c.yaml"))
    text = markdown.render(result, environ={})
    row = next(line for line in text.splitlines() if "evil" in line)
    assert row.count(" | ") == 4  # five cells: nothing broke out of the table
    outside_code = re.sub(r"`[^`]*`", "", text)  # a code span shows its text literally
    assert not re.search(r"(?<!\\)<(script|img)", outside_code)  # `\<` is a literal "<" in Markdown
    assert "](https://evil" not in text
    assert "\x1b" not in text and "\n## heading" not in text
    assert "@admin" not in text and "@\u200badmin" in text
    assert re.search(r"`Pod ns/x'¦<img src=x>`", row)


def test_deterministic() -> None:
    shuffled = build_result()
    shuffled.findings.reverse()
    shuffled.skipped.reverse()
    assert markdown.render(shuffled, environ=GITHUB) == markdown.render(build_result(), environ=GITHUB)


def test_settings_in_a_collapsed_section() -> None:
    text = markdown.render(build_result(), environ={})
    settings = text[text.index("<summary>What the scan ran with</summary>"):]
    assert f"- policies: `policies (sha256 {'9f2c' * 16})`" in settings
    assert "podSecurity.defaultLevel=restricted" in settings and "- suppressions: `1 inline (annotations), " \
        "1 baseline`" in settings


def test_graph_summary_counts_namespace_edges_of_large_graphs():
    """Above the analysis' group limit the export has namespace_edges instead of edges: still counted."""
    from scanner.report.markdown import graph_stats

    large = {"reachability": {"namespaces": [{"name": "a"}, {"name": "b"}], "groups": [], "edges": [],
                              "namespace_edges": [
                                  {"source": "a", "destination": "b", "cross_environment": True},
                                  {"source": "b", "destination": "a", "cross_environment": False}]}}
    stats = graph_stats(large)
    assert stats["edges"] == 2 and stats["cross"] == 1
    assert any("`a` → `b`" in line for line in stats["examples"])
