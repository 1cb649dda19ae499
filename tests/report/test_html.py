"""The HTML report without a browser: one self-contained, deterministic page; escaping; snippets read only from
regular files inside the working tree; repository links; the graphs exported by the analyses and drawn by Graphviz.
The browser tests are in test_html_browser.py."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import re
from pathlib import Path

import pytest

from scanner.analysis.graphs import graph_data
from scanner.load.files import load_paths
from scanner.model import Finding, Location, ResourceId, ScanResult, Severity
from scanner.report import FORMATS, REPORT_FILES, html
from scanner.report._common import DOCS_BASE_URL
from scanner.report.html_graphs import MAX_NODES, quoted, rbac_picture, reachability_picture
from scanner.report.html_source import blob_base, line_ranges, read_inside, snippets, web_url
from scanner.scan import ScanOptions, scan_paths

FIXTURE = Path(__file__).parent / "html_fixture"
REPO = Path(__file__).resolve().parents[2]
HOSTILE = '</script><script>alert(1)</script>\x1b[2J"\\N\u202e&amp;<b>'


def page_data(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="kguard-data">(.*?)</script>', page, re.DOTALL)
    assert match is not None
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def fixture_result() -> ScanResult:
    """The fixture scanned for real (policies, analyses, graphs), paths relative to the repository root."""
    cwd = Path.cwd()
    os.chdir(REPO)
    try:
        return scan_paths([str(FIXTURE.relative_to(REPO))], ScanOptions(graphs=True))
    finally:
        os.chdir(cwd)


def test_registered_for_format_and_report_dir() -> None:
    assert FORMATS["html"].__name__ == "html.render"
    assert REPORT_FILES["kguard.html"].__name__ == "html.render"


def test_page_is_self_contained_with_a_strict_policy(scan_result: ScanResult) -> None:
    page = html.render(scan_result, root=REPO, link_base=None)
    assert page.startswith("<!DOCTYPE html>")
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page).group(1)
    assert csp.startswith("default-src 'none';")
    style = re.search(r"<style>(.*?)</style>", page, re.DOTALL).group(1)
    scripts = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    assert len(scripts) == 1

    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    assert f"style-src {digest(style)}" in csp and f"script-src {digest(scripts[0])}" in csp
    # nothing the browser would fetch: no external script, style sheet, image, font, frame or CSS url()
    assert not re.search(r"<(link|img|iframe|object|embed|audio|video|source)\b", page)
    assert not re.search(r"<script[^>]+src=|url\(|@import", page)


def test_same_input_same_bytes(scan_result: ScanResult) -> None:
    first = html.render(scan_result, root=REPO, link_base="https://github.com/o/r/blob/" + "a" * 40)
    again = html.render(dataclasses.replace(scan_result), root=REPO, link_base="https://github.com/o/r/blob/" + "a" * 40)
    assert first == again


def test_summary_counts_verdict_and_policy_hash(scan_result: ScanResult) -> None:
    page = html.render(scan_result, root=REPO, link_base=None)
    active = [f for f in scan_result.findings if not f.suppressed]
    critical = sum(f.severity == Severity.CRITICAL for f in active)
    assert f'data-severity="critical"><b>{critical}</b>critical' in page
    assert f"{len(active)} unsuppressed" in page
    digest = scan_result.settings["policies"]["sha256"]
    assert f'title="{digest}">sha256 {digest[:16]}' in page
    assert html.verdict([scan_result], Severity.HIGH)[0] == "error"  # the sample has an input error
    clean = dataclasses.replace(scan_result, input_errors=[], policy_errors=[])
    failing = [f for f in active if f.severity >= Severity.HIGH]
    assert html.verdict([clean], Severity.HIGH) == (
        "blocked", f"blocked: {len(failing)} findings >= high ({critical} critical)")
    assert critical == 1 and html.verdict([clean], Severity.CRITICAL)[1] == "blocked: 1 finding >= critical"
    assert html.verdict([dataclasses.replace(clean, findings=[])], Severity.HIGH) == (
        "passed", "passed: no finding at or above high")


def test_findings_travel_as_escaped_data(scan_result: ScanResult) -> None:
    finding = scan_result.findings[0]
    resource = dataclasses.replace(finding.resource, name=f"web{HOSTILE}")
    scan_result.findings.append(dataclasses.replace(finding, resource=resource, message=f"bad {HOSTILE}",
                                                    fingerprint="f" * 32))
    page = html.render(scan_result, root=REPO, link_base=None)
    assert page.count("<script") == 2 and page.count("</script>") == 2  # the hostile text opened no element
    assert "alert(1)</script>" not in page and "\x1b" not in page and "\u202e" not in page
    data = page_data(page)
    hostile = [f for f in data["findings"] if f["m"].startswith("bad ")]
    assert hostile[0]["m"] == 'bad </script><script>alert(1)</script>\\x1b[2J"\\N\\u202e&amp;<b>.'
    assert len(data["findings"]) == len(scan_result.findings)


def test_lines_around_the_data_are_guarded_and_the_data_line_is_left_whole(scan_result: ScanResult,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """`guard_lines` reads the page's lines before and after the data's script element; the data is one line."""
    monkeypatch.setattr(html, "_summary", lambda runs: "<p>\n::error title=x::forged\n</p>")
    monkeypatch.setattr(html, "_asset", lambda name: "x = 1;\n  ::warning::forged by an asset" if name.endswith(".js")
                        else "body {}")
    page = html.render(scan_result, root=REPO, link_base=None)
    lines = page.split("\n")
    assert "\\::error title=x::forged" in lines and "  \\::warning::forged by an asset</script>" in lines
    (data_line,) = [line for line in lines if 'id="kguard-data"' in line]
    assert data_line.endswith("</script>") and json.loads(data_line.split(">", 1)[1].removesuffix("</script>"))


def test_problems_and_coverage_table(scan_result: ScanResult) -> None:
    scan_result.coverage.append({"group": "apps", "kind": "Deployment", "reason": "forbidden <cannot list>"})
    page = html.render(scan_result, root=REPO, link_base=None)
    assert '<table class="plain" id="coverage">' in page
    assert "<td>forbidden &lt;cannot list&gt;</td>" in page
    assert "mapping values are not allowed here" in page


def test_graphs_missing_are_explained(scan_result: ScanResult) -> None:
    page = html.render(scan_result, root=REPO, link_base=None)
    assert "Not computed for this run" in page and "<svg" not in page


# --- source snippets and links ------------------------------------------------------------------------------


def test_snippet_only_from_regular_files_inside_the_tree(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "a.yaml").write_text("".join(f"line {n}\n" for n in range(1, 21)))
    outside = tmp_path / "secret.yaml"
    outside.write_text("password: hunter2\n")
    (root / "link-out.yaml").symlink_to(outside)
    (root / "link-in.yaml").symlink_to(root / "a.yaml")
    os.mkfifo(root / "fifo.yaml")
    assert read_inside("a.yaml", root)[0] == "line 1"
    assert read_inside(str(root / "a.yaml"), root)[0] == "line 1"
    assert read_inside("link-in.yaml", root)[0] == "line 1"
    for refused in ("link-out.yaml", "fifo.yaml", "../secret.yaml", str(outside), "missing.yaml", "."):
        assert read_inside(refused, root) is None, refused
    got = snippets({"a.yaml": {(10, 10), (12, 13)}, "link-out.yaml": {(1, 1)}}, root)
    assert got == {"a.yaml": [[7, [f"line {n}" for n in range(7, 17)]]]}


def test_line_ranges_merge_and_cap() -> None:
    assert line_ranges([(1, 1), (30, 30), (5, 6)]) == [(1, 9), (27, 33)]
    assert line_ranges([(10, 500)]) == [(7, 25)]  # a long span is cut


def test_snippet_text_is_escaped(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("name: a\x1b[2Jb\u202e\n")
    assert snippets({"x.yaml": {(1, 1)}}, tmp_path) == {"x.yaml": [[1, ["name: a\\x1b[2Jb\\u202e", ""]]]}


@pytest.mark.parametrize(("remote", "url"), [
    ("git@github.com:acme/shop.git", "https://github.com/acme/shop"),
    ("https://github.com/acme/shop.git", "https://github.com/acme/shop"),
    ("https://x-access-token:secret@github.com/acme/shop", "https://github.com/acme/shop"),
    ("ssh://git@gitlab.example.com:2222/group/sub/shop.git", "https://gitlab.example.com/group/sub/shop"),
    ("/srv/git/shop.git", None),
    ("file:///srv/git/shop", None),
    ("https://github.com/acme/shop\"><script>", None),
    ("https://github.com/../x", None),
])
def test_web_url_of_remotes(remote: str, url: str | None) -> None:
    assert web_url(remote) == url


def test_blob_base_from_the_ci_environment_or_git(tmp_path: Path) -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    env = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/shop", "GITHUB_SHA": sha}
    assert blob_base(env) == f"https://github.com/acme/shop/blob/{sha}"
    assert blob_base({**env, "GITHUB_SHA": "not-a-sha"}) is None
    assert blob_base({}, cwd=tmp_path) is None  # not a git checkout
    import subprocess

    run = {"cwd": tmp_path, "check": True, "capture_output": True}
    subprocess.run(["git", "init", "-q"], **run)
    subprocess.run(["git", "remote", "add", "origin", "git@github.com:acme/shop.git"], **run)
    assert blob_base({}, cwd=tmp_path) is None  # no commit yet
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "--allow-empty", "-m", "x"],
                   **run)
    head = subprocess.run(["git", "rev-parse", "HEAD"], text=True, **run).stdout.strip()
    assert blob_base({}, cwd=tmp_path) == f"https://github.com/acme/shop/blob/{head}"


def test_findings_carry_snippets_and_linkable_paths(fixture_result: ScanResult) -> None:
    base = "https://github.com/acme/shop/blob/" + "b" * 40
    data = page_data(html.render(fixture_result, root=REPO, link_base=base))
    assert data["link"] == base
    privileged = next(f for f in data["findings"] if f["r"] == "pss-privileged")
    assert privileged["p"] == "tests/report/html_fixture/workloads.yaml" and privileged["in"] == 1
    chunk = next(c for c in data["sources"][privileged["p"]] if c[0] <= privileged["l"] < c[0] + len(c[1]))
    assert chunk[1][privileged["l"] - chunk[0]].strip() == "privileged: true"


# --- graphs ---------------------------------------------------------------------------------------------------


def test_analyses_export_both_graphs() -> None:
    loaded = load_paths([str(FIXTURE)])
    data = graph_data(loaded.resources)
    reach = data["reachability"]
    assert reach["namespaces"] == [{"name": "shop-production", "environment": "production"},
                                   {"name": "shop-staging", "environment": "staging"}]
    names = {g["id"]: f"{g['namespace']}/{g['workloads'][0]}" for g in reach["groups"]}
    edges = {(names[e["source"]], names[e["destination"]], e["ports"], e["cross_environment"])
             for e in reach["edges"]}
    assert edges == {
        ("shop-staging/Deployment web", "shop-production/Deployment api", "TCP/8080", True),
        ("shop-production/Deployment api", "shop-production/Deployment db", "TCP/5432", False),
        ("shop-production/Deployment db", "shop-production/Deployment api", "TCP/8080", False),
        ("shop-production/Deployment api", "shop-staging/Deployment web", "any port", True),
        ("shop-production/Deployment db", "shop-staging/Deployment web", "any port", True),
    }
    assert data["rbac"]["paths"] == [{
        "rule": "rbac-escalation-pod-create", "severity": "critical",
        "subject": "ServiceAccount shop-staging/deployer", "binding": "RoleBinding shop-production/deployer-creates-pods",
        "role": "Role shop-production/pod-creator", "permission": "create on pods",
        "action": "can create pods in shop-production and so act as", "target": "ServiceAccount shop-production/admin",
        "gains": "every permission (cluster-admin equivalent) cluster-wide",
        "gains_via": "ClusterRoleBinding admin-is-cluster-admin", "more": 0,
    }]
    assert graph_data(load_paths([str(FIXTURE)]).resources) == data  # deterministic


def svg_titles(svg: str, kind: str) -> list[str]:
    import html as markup

    return [markup.unescape(t) for t in re.findall(rf'<g id="{kind}\d+" class="{kind}[^"]*">\s*<title>(.*?)</title>',
                                                   svg)]


def test_reachability_graph_drawn_by_graphviz(fixture_result: ScanResult) -> None:
    picture = reachability_picture(fixture_result.graphs["reachability"])
    assert picture.svg.startswith("<svg") and not picture.note
    assert sorted(svg_titles(picture.svg, "node")) == [
        "shop-production/Deployment api", "shop-production/Deployment db", "shop-staging/Deployment web"]
    # production's groups all reach each other (said in the cluster label), production -> staging is all to all
    assert sorted(svg_titles(picture.svg, "edge")) == [
        "shop-production/Deployment api->shop-staging/Deployment web",
        "shop-staging/Deployment web->shop-production/Deployment api"]
    assert len(re.findall(r'class="edge cross"', picture.svg)) == 2
    assert "all workloads reach each other" in picture.svg


def test_rbac_graph_chain(fixture_result: ScanResult) -> None:
    picture = rbac_picture(fixture_result.graphs["rbac"])
    assert svg_titles(picture.svg, "edge") == [
        "binding:RoleBinding shop-production/deployer-creates-pods->role:Role shop-production/pod-creator",
        "role:Role shop-production/pod-creator->subject:ServiceAccount shop-production/admin",
        "subject:ServiceAccount shop-production/admin->capability:every permission (cluster-admin equivalent) "
        "cluster-wide",
        "subject:ServiceAccount shop-staging/deployer->binding:RoleBinding shop-production/deployer-creates-pods",
    ]
    assert len(re.findall(r'class="edge critical"', picture.svg)) == 2


def test_hostile_names_reach_graphviz_as_plain_text() -> None:
    group = {"id": "g0", "namespace": "ns", "workloads": [f"Deployment {HOSTILE}"], "ingress_isolated": False,
             "egress_isolated": False}
    other = {**group, "id": "g1", "workloads": ["Deployment b"]}
    picture = reachability_picture({"namespaces": [{"name": "ns", "environment": ""}], "groups": [group, other],
                                    "edges": [{"source": "g0", "destination": "g1", "ports": "any port",
                                               "cross_environment": False}]})
    assert not picture.note, picture.note
    assert "<script" not in picture.svg and "\x1b" not in picture.svg
    # the label shows the text as safe_text does (escapes visible, "&amp;" literally), Graphviz escaped it for SVG
    assert ">Deployment &lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;\\x1b[2J&quot;\\N\\u202e&amp;amp;&lt;b&gt;</text>" \
        in picture.svg
    assert quoted('a"b\\c') == '"a\\"b\\\\c"'


def test_large_reachability_falls_back_to_namespaces() -> None:
    groups = [{"id": f"g{i}", "namespace": f"ns-{i % 5}", "workloads": [f"Deployment w{i}"],
               "ingress_isolated": True, "egress_isolated": True} for i in range(MAX_NODES + 1)]
    edges = [{"source": f"g{i}", "destination": f"g{i + 1}", "ports": "TCP/80", "cross_environment": i % 2 == 0}
             for i in range(MAX_NODES)]
    picture = reachability_picture({"namespaces": [{"name": f"ns-{i}", "environment": ""} for i in range(5)],
                                    "groups": groups, "edges": edges})
    assert "shown per namespace" in picture.note
    assert sorted(svg_titles(picture.svg, "node")) == [f"ns-{i}" for i in range(5)]
    assert picture.edges == 5  # ns-0->ns-1 ... ns-4->ns-0


def test_scan_exports_graphs_only_when_asked(fixture_result: ScanResult) -> None:
    assert fixture_result.graphs["rbac"]["paths"]
    cwd = Path.cwd()
    os.chdir(REPO)
    try:
        plain = scan_paths([str(FIXTURE.relative_to(REPO))], ScanOptions())
    finally:
        os.chdir(cwd)
    assert plain.graphs == {}


def test_several_runs_get_a_run_filter(scan_result: ScanResult) -> None:
    other = dataclasses.replace(scan_result, category="kguard/staging")
    page = html.render([scan_result, other], root=REPO, link_base=None)
    assert 'id="f-run"' in page
    runs = {f["run"] for f in page_data(page)["findings"]}
    assert runs == {"kguard/production", "kguard/staging"}


def test_finding_outside_the_tree_has_no_snippet_or_link(tmp_path: Path) -> None:
    (tmp_path / "outside.yaml").write_text("kind: Pod\n")
    finding = Finding(rule_id="r", severity=Severity.HIGH, category="rbac", tags=(), message="m",
                      resource=ResourceId(api_version="v1", kind="Pod", name="p"),
                      location=Location(path=str(tmp_path / "outside.yaml"), line=1, column=1, end_line=1,
                                        end_column=2))
    data = page_data(html.render(ScanResult(findings=[finding]), root=REPO, link_base="https://h/o/r/blob/x"))
    assert data["sources"] == {} and "in" not in data["findings"][0]


def test_snippets_when_run_from_a_subdirectory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding paths are relative to the git work tree (`display_path`), whatever directory kguard runs in."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "pod.yaml").write_text("kind: Pod\nmetadata:\n  name: p\n")
    monkeypatch.chdir(tmp_path / "sub")
    finding = Finding(rule_id="r", severity=Severity.HIGH, category="rbac", tags=(), message="m",
                      resource=ResourceId(api_version="v1", kind="Pod", name="p"),
                      location=Location(path="sub/pod.yaml", line=3, column=3, end_line=3, end_column=4))
    data = page_data(html.render(ScanResult(findings=[finding]), link_base=None))
    assert data["sources"] == {"sub/pod.yaml": [[1, ["kind: Pod", "metadata:", "  name: p", ""]]]}


def test_help_links_resolve_as_in_the_other_formats(scan_result: ScanResult) -> None:
    """A repository-relative help link (the drift rules') points at the project's docs; other schemes are dropped."""
    links = {"pss-privileged": "docs/audit.md#drift-against-git", "rbac-wildcard-verbs": "javascript:alert(1)"}
    rules = [dataclasses.replace(r, help_url=links.get(r.id, r.help_url)) for r in scan_result.rules]
    data = page_data(html.render(dataclasses.replace(scan_result, rules=rules), root=REPO, link_base=None))
    assert data["rules"]["pss-privileged"]["help"] == f"{DOCS_BASE_URL}docs/audit.md#drift-against-git"
    assert data["rules"]["rbac-wildcard-verbs"]["help"] == ""
    assert data["rules"]["pss-run-as-non-root"]["help"].startswith("https://kubernetes.io/")


def test_several_runs_draw_only_what_they_have(fixture_result: ScanResult) -> None:
    empty = dataclasses.replace(fixture_result, category="kguard/empty",
                                graphs={"reachability": {"namespaces": [], "groups": [], "edges": []},
                                        "rbac": {"paths": []}})
    no_rbac = dataclasses.replace(fixture_result, category="kguard/net",
                                  graphs={**fixture_result.graphs, "rbac": {"paths": []}})
    page = html.render([fixture_result, empty, no_rbac], root=REPO, link_base=None)
    assert page.count('data-graph="reachability"') == 2 and page.count('data-graph="rbac"') == 1
    assert "No workloads and no escalation path in: kguard/empty." in page
    assert "No RBAC escalation path in: kguard/net." in page
    assert ">kguard, kguard/empty, kguard/net</div>" in page  # three runs are named, more are counted first


def test_cli_page_is_byte_identical_across_runs(tmp_path: Path) -> None:
    """Two processes (each loading Graphviz anew) write the same bytes, graphs included."""
    import subprocess
    import sys

    env = {**os.environ, "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/shop",
           "GITHUB_SHA": "c" * 40}
    pages = []
    for name in ("a.html", "b.html"):
        run = subprocess.run([sys.executable, "-m", "scanner", "scan", str(FIXTURE.relative_to(REPO)), "--format",
                              "html", "--output", str(tmp_path / name)], cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=300)
        assert run.returncode == 1, run.stderr
        pages.append((tmp_path / name).read_bytes())
    assert pages[0] == pages[1]
    assert pages[0].count(b"<svg") == 2 and b"https://github.com/acme/shop/blob/" + b"c" * 40 in pages[0]


def test_many_groups_are_exported_per_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    import scanner.analysis.graphs as graphs

    monkeypatch.setattr(graphs, "MAX_GROUPS_WITH_EDGES", 2)  # the fixture has 3 groups
    reach = graphs.reachability_graph(load_paths([str(FIXTURE)]).resources)
    assert reach["edges"] == [] and len(reach["groups"]) == 3
    assert reach["namespace_edges"] == [
        {"source": "shop-production", "destination": "shop-staging", "ports": "any port", "cross_environment": True},
        {"source": "shop-staging", "destination": "shop-production", "ports": "TCP/8080", "cross_environment": True},
    ]
    picture = reachability_picture(reach)
    assert sorted(svg_titles(picture.svg, "node")) == ["shop-production", "shop-staging"]
    assert sorted(svg_titles(picture.svg, "edge")) == ["shop-production->shop-staging",
                                                       "shop-staging->shop-production"]
    assert "shown per namespace" in picture.note


def test_too_many_namespace_pairs_are_drawn_per_environment() -> None:
    envs = ("production", "staging", "development")
    namespaces = [{"name": f"ns-{i:02d}", "environment": envs[i % 3]} for i in range(30)]
    groups = [{"id": f"g{i}", "namespace": f"ns-{i:02d}", "workloads": [f"Deployment w{i}"],
               "ingress_isolated": False, "egress_isolated": False} for i in range(30)]
    pairs = [{"source": f"ns-{a:02d}", "destination": f"ns-{b:02d}", "ports": "any port",
              "cross_environment": a % 3 != b % 3} for a in range(30) for b in range(30) if a != b]
    picture = reachability_picture({"namespaces": namespaces, "groups": groups, "edges": [],
                                    "namespace_edges": pairs})
    assert sorted(svg_titles(picture.svg, "node")) == sorted(envs)
    assert len(svg_titles(picture.svg, "edge")) == 9 and picture.svg.count('class="edge cross"') == 6
    assert "870 connected namespace pairs: shown per environment" in picture.note


@pytest.mark.parametrize("per_piece", [1, 2, 1024])
def test_the_data_go_out_in_pieces_as_json_dumps_writes_them(scan_result: ScanResult, per_piece: int,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(html, "FINDINGS_PER_PIECE", per_piece)
    staging = dataclasses.replace(scan_result, category="staging")
    for runs in ([scan_result, staging], [ScanResult(findings=[])]):
        index = html._PageIndex.of(runs, REPO)
        sources = {"a.yaml": [[3, ["kind: Pod", "  ::x"]]]}
        pieces = list(html._data_json(runs, REPO, "https://h/o/r/blob/c", index, sources))
        findings = list(html._finding_entries(runs, REPO, index))
        whole = {"findings": findings, "rules": index.rules, "categories": index.categories, "sources": sources,
                 "link": "https://h/o/r/blob/c", "severities": ["critical", "high", "medium", "low", "info"]}
        assert "".join(pieces) == json.dumps(whole, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        assert len(pieces) == 2 + -(-len(findings) // per_piece)  # the findings a piece at a time


def test_the_page_written_piece_by_piece_is_the_rendered_page(scan_result: ScanResult) -> None:
    pieces: list[str] = []
    html.producer(scan_result, root=REPO, link_base=None)(pieces.append)
    assert len(pieces) > 4 and "".join(pieces) == html.render(scan_result, root=REPO, link_base=None)
