"""`kguard audit --format html` against the real kube-apiserver + etcd: the live objects' graphs, and the coverage
table of an auditor that cannot read everything."""

from __future__ import annotations

import html as markup
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster.conftest import Kube, deployment
from tests.cluster.conftest import kube as kube
from tests.fixtures.controlplane import control_plane as control_plane

pytestmark = pytest.mark.cluster
REPO = Path(__file__).resolve().parents[2]


def audit_html(kubeconfig: Path, out: Path, *namespaces: str) -> str:
    args = [sys.executable, "-m", "scanner", "audit", "--kubeconfig", str(kubeconfig), "--format", "html",
            "--output", str(out), "--fail-on", "none", "-q", *(f"--namespace={ns}" for ns in namespaces)]
    run = subprocess.run(args, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert run.returncode == 0, run.stderr
    return out.read_text()


def titles(page: str, graph: str, kind: str) -> list[str]:
    figure = re.search(rf'<figure class="graph-card" id="graph-{graph}".*?</figure>', page, re.DOTALL)
    assert figure is not None, graph
    return sorted(markup.unescape(t) for t in re.findall(rf'class="{kind}[^"]*">\s*<title>(.*?)</title>',
                                                          figure.group()))


def test_live_audit_draws_the_cluster(kube: Kube, tmp_path: Path) -> None:
    prod = kube.namespace("html-prod", {"environment": "production"})
    stage = kube.namespace("html-stage", {"environment": "staging"})
    kube.create(deployment("api", prod))
    kube.create(deployment("web", stage))
    page = audit_html(kube.plane.kubeconfig_admin, tmp_path / "audit.html", prod, stage)
    assert titles(page, "reachability", "node") == [f"{prod}/Deployment api", f"{stage}/Deployment web"]
    # nothing isolates either namespace: each workload reaches the other, across environments
    assert titles(page, "reachability", "edge") == [f"{prod}/Deployment api->{stage}/Deployment web",
                                                   f"{stage}/Deployment web->{prod}/Deployment api"]
    assert page.count('class="edge cross"') == 2
    assert 'id="coverage"' not in page  # the admin reads everything: no coverage gap


def test_restricted_auditor_sees_the_coverage_table(kube: Kube, tmp_path: Path) -> None:
    ns = kube.namespace("html-auditor")
    kube.create(deployment("api", ns))
    page = audit_html(kube.plane.kubeconfig_auditor, tmp_path / "audit.html")
    table = re.search(r'<table class="plain" id="coverage">(.*?)</table>', page, re.DOTALL)
    assert table is not None
    head = re.findall(r"<th>(.*?)</th>", table.group(1))
    rows = [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", table.group(1))[1:]]
    found = [dict(zip(head, row, strict=True)) for row in rows]
    network = [r for r in found if r.get("kind") == "NetworkPolicy"]
    assert network and network[0]["status"] == "403" and network[0]["reason"] == "forbidden"
    gaps = int(re.search(r"<span>Coverage gaps</span><b>(\d+)</b>", page).group(1))
    assert gaps == len(found) > 0  # the summary card counts the same gaps
