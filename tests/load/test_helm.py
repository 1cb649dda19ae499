"""The Helm loader with the real `helm template` on this repository's charts: every object is blamed on its template
file, fields on the template line that emitted them (or the key they sit under when `include`/`toYaml` wrote
them); the line alignment itself on small cases."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scanner.load import yaml_source
from scanner.load.helm import Release, align, chart_of, load_release
from tests.fixtures.tools import require_tool

REPO = Path(__file__).resolve().parents[2]
CHARTS = REPO / "manifests" / "helm"


@pytest.fixture
def helm_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    helm = require_tool("helm")  # scripts/install-tools.sh builds it: missing is a failure, not a skip
    monkeypatch.setenv("PATH", f"{helm.parent}:{__import__('os').environ['PATH']}")
    monkeypatch.chdir(REPO)


def _line_of(template: Path, text: str, occurrence: int = 1) -> int:
    hits = [i for i, line in enumerate(template.read_text().splitlines(), 1) if line.strip().startswith(text)]
    return hits[occurrence - 1]


def test_microservices_chart_blames_template_lines(helm_on_path: None) -> None:
    chart = CHARTS / "microservices"
    release = Release(chart=chart, name="shop", namespace="shop-production",
                      values=(chart / "values-production.yaml",), kube_version="1.31.0")
    loaded = load_release(release)
    assert not loaded.errors and loaded.resources
    assert loaded.scanned == ["manifests/helm/microservices/Chart.yaml"]
    template = chart / "templates" / "deployment.yaml"
    deployments = [r for r in loaded.resources if r.kind == "Deployment"]
    assert len(deployments) == 5  # one per service, all from one `range`
    assert {r.path for r in deployments} == {"manifests/helm/microservices/templates/deployment.yaml"}
    assert sorted(r.doc_index for r in deployments) == list(range(5))  # distinct occurrences
    containers = ("spec", "template", "spec", "containers", 0)
    for deployment in deployments:
        assert deployment.namespace == "shop-production"
        path, pos = deployment.locate((*containers, "image"))
        assert (path, pos.line) == (deployment.path, _line_of(template, "image:"))
        # written by toYaml under `securityContext:`: the key's line
        _, pos = deployment.locate((*containers, "securityContext", "allowPrivilegeEscalation"))
        assert pos.line == _line_of(template, "securityContext:", 2)
        _, pos = deployment.locate(("spec", "template", "spec", "automountServiceAccountToken"))
        assert pos.line == _line_of(template, "automountServiceAccountToken:")
    every_path = {r.path for r in loaded.resources}
    assert all(p.startswith("manifests/helm/microservices/templates/") for p in every_path)


def test_releases_share_document_counts(helm_on_path: None) -> None:
    chart = CHARTS / "infrastructure"
    counts: dict[str, int] = {}
    first = [(r.path, r.doc_index) for env in ("staging", "production")
             for r in load_release(Release(chart=chart, name="shop-infra",
                                           values=(chart / f"values-{env}.yaml",), kube_version="1.31.0"),
                                   counts).resources]
    assert len(first) == len(set(first))


def test_chart_of_finds_the_enclosing_chart() -> None:
    chart = CHARTS / "microservices"
    assert chart_of(chart / "templates" / "deployment.yaml") == chart
    assert chart_of(chart / "templates" / "_helpers.tpl") == chart
    assert chart_of(chart) == chart
    assert chart_of(REPO / "manifests" / "base") is None


def test_align_matches_text_then_key_at_indentation() -> None:
    template = [
        "kind: Service",                 # 1
        "spec:",                         # 2
        "  ports:",                      # 3
        "  {{- range .Values.ports }}",  # 4
        "    - name: {{ .name }}",       # 5
        "      port: {{ .port }}",       # 6
        "  {{- end }}",                  # 7
        "  selector:",                   # 8
        "    {{- include \"sel\" . | nindent 4 }}",  # 9
    ]
    rendered = ["kind: Service", "spec:", "  ports:", "    - name: http", "      port: 80", "    - name: https",
                "      port: 443", "  selector:", "    app: web", "# a comment"]
    assert align(rendered, template) == [1, 2, 3, 5, 6, 5, 6, 8, None, None]


def test_align_does_not_match_a_key_at_another_indentation() -> None:
    template = ["metadata:", "  labels:", "    {{- include \"l\" . }}", "spec:", "  template:",
                "        name: {{ .x }}"]
    rendered = ["metadata:", "  labels:", "    name: web", "spec:", "  template:", "        name: web"]
    assert align(rendered, template) == [1, 2, None, 4, 5, 6]


def test_a_chart_linking_out_of_the_repository_is_refused_unrendered(
        helm_on_path: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """helm follows symbolic links: a template, or a linked directory's file, pointing at a runner's file (or at
    .git/) must not be rendered into a scanned object; a link inside the repository is fine."""
    outside = tmp_path / "runner"
    outside.mkdir()
    (outside / "token.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stolen\n"
                                        "data:\n  token: CANARY-RUNNER-TOKEN\n")
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / ".git" / "config.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: git\n")
    (repo / "shared").mkdir()
    (repo / "shared" / "ok.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n")

    def chart(name: str) -> Path:
        (repo / name / "templates").mkdir(parents=True)
        (repo / name / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n")
        (repo / name / "templates" / "cm.yaml").write_text(
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n")
        return repo / name

    os.symlink(outside / "token.yaml", chart("file") / "templates" / "leak.yaml")
    os.symlink("../../.git/config.yaml", chart("git") / "templates" / "git.yaml")
    os.symlink("../../shared", chart("linked") / "templates" / "shared")
    os.symlink(outside / "token.yaml", repo / "shared" / "leak.yaml")
    os.symlink("../../shared/ok.yaml", chart("inside") / "templates" / "ok.yaml")
    monkeypatch.chdir(repo)
    for name, link in (("file", "file/templates/leak.yaml"), ("git", "git/templates/git.yaml"),
                       ("linked", "shared/leak.yaml")):
        loaded = load_release(Release(chart=repo / name, name="r"))
        assert loaded.resources == []
        (error,) = loaded.errors
        assert error.path == link and error.message.startswith(f"not scanned: symbolic link {link} "), error
    (repo / "shared" / "leak.yaml").unlink()
    loaded = load_release(Release(chart=repo / "inside", name="r"))
    assert not loaded.errors
    assert sorted(r.name for r in loaded.resources) == ["inside", "shared"]


def test_one_node_budget_covers_every_document_of_a_release(
        helm_on_path: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A template that emits many documents, each within the limits, cannot buy a fresh budget per document."""
    monkeypatch.setattr(yaml_source, "MAX_NODES_PER_RUN", 5_000)
    chart = tmp_path / "bomb"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: bomb\nversion: 0.1.0\n")
    (chart / "templates" / "many.yaml").write_text(
        "{{- range until 20 }}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{{ . }}\n"
        "data:\n  a: &a [1,1,1,1,1,1,1,1,1,1]\n  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "  c: [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n{{- end }}\n")
    monkeypatch.chdir(tmp_path)
    loaded = load_release(Release(chart=chart, name="r"))
    assert 0 < len(loaded.resources) < 20
    assert loaded.errors and all("nodes in this run" in e.message for e in loaded.errors), loaded.errors
