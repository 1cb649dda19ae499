"""The scan plan end to end with the real tools (kubectl kustomize, helm template): the repository scan covers every
input once, Kustomize directories are rendered and their patches never scanned as objects, Helm charts are rendered
and blamed on their templates, named files get the rest of the repository as context."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from scanner.cli import app
from tests.fixtures.objects import WEB_DEPLOYMENT
from tests.fixtures.tools import find_tool, require_tool

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "tests" / "fixtures" / "kustomize" / "app"
HELM = find_tool("helm")
needs_helm = pytest.mark.usefixtures("helm_installed")


@pytest.fixture
def helm_installed() -> None:
    """helm, which scripts/install-tools.sh builds: missing fails the test (KGUARD_ALLOW_SKIP_TOOLS=1 skips it)."""
    require_tool("helm")


pytestmark = pytest.mark.integration

BAD_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: bad
  namespace: shop
spec:
  containers:
    - name: app
      image: registry.example.com/app:1.0.0@sha256:0000000000000000000000000000000000000000000000000000000000000000
      securityContext:
        privileged: true
"""

CHART = "apiVersion: v2\nname: web\nversion: 0.1.0\n"
CHART_VALUES = "privileged: false\nreplicas: 1\n"
CHART_TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
  namespace: {{ .Release.Namespace }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: registry.example.com/web:1.0.0
          securityContext:
            privileged: {{ .Values.privileged }}
"""
PRIVILEGED_LINE = 18  # `privileged: {{ .Values.privileged }}` in CHART_TEMPLATE


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _json(*args: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = _run(*args, "--format", "json")
    assert out, err
    return code, json.loads(out), err


def _chart(root: Path, privileged: bool = True) -> Path:
    chart = root / "charts" / "web"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(CHART)
    (chart / "values.yaml").write_text(CHART_VALUES)
    (chart / "values-prod.yaml").write_text(f"privileged: {'true' if privileged else 'false'}\n")
    (chart / "templates" / "deployment.yaml").write_text(CHART_TEMPLATE)
    return chart


HELM_CONFIG = """\
helm:
  enabled: true
  releases:
    - {chart: charts/web, name: shop, namespace: shop, values: [charts/web/values-prod.yaml]}
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A mixed git work tree (the cwd): a Kustomize app, a plain manifest beside it, a Helm chart, helm on PATH."""
    shutil.copytree(APP, tmp_path / "app")
    (tmp_path / ".git").mkdir()
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "bad.yaml").write_text(BAD_POD)
    _chart(tmp_path)
    (tmp_path / ".kguard.yaml").write_text(HELM_CONFIG)
    if HELM is not None:
        monkeypatch.setenv("PATH", f"{HELM.parent}:{__import__('os').environ['PATH']}")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _paths(document: dict[str, Any]) -> set[str]:
    return {f["location"]["path"] for f in document["findings"]}


def _not_scanned(document: dict[str, Any]) -> dict[str, str]:
    return {s["path"]: s["reason"] for s in document["scan"]["skipped"]}


@needs_helm
def test_repository_scan_covers_every_input_once(repo: Path) -> None:
    code, document, err = _json("scan", ".")
    assert code == 1, err
    assert document["scan"]["runs"] == ["kguard", "kguard/app/overlays/prod"]
    scanned = set(document["scan"]["scanned"])
    assert {"k8s/bad.yaml", "charts/web/Chart.yaml", "app/overlays/prod/kustomization.yaml"} <= scanned
    # inputs of the rendered overlay are scanned through it, never as objects of their own
    assert not scanned & {"app/overlays/prod/worker-limits.yaml", "app/overlays/dev/sidecar-privileged.yaml",
                          "app/base/workloads.yaml"}
    privileged = {(f["location"]["path"], f["location"]["line"]) for f in document["findings"]
                  if f["rule_id"] == "pss-privileged"}
    assert ("k8s/bad.yaml", 11) in privileged  # the plain file beside the overlays
    assert ("charts/web/templates/deployment.yaml", PRIVILEGED_LINE) in privileged  # the chart, at its template
    assert any(path.startswith("app/overlays/dev/") for path, _ in privileged)  # the overlay, blamed on its patch
    kustomizations = _not_scanned(document)
    assert kustomizations["app/overlays/dev/kustomization.yaml"].startswith("base of app/overlays/prod")
    assert not any(f["resource"]["kind"] == "Kustomization" for f in document["findings"])


@needs_helm
def test_unrendered_kustomization_inputs_are_listed_not_scanned(repo: Path) -> None:
    (repo / ".kguard.yaml").write_text(HELM_CONFIG + "exclude: [app/overlays/prod]\n")
    _, document, _ = _json("scan", ".")
    reasons = _not_scanned(document)
    assert reasons["app/overlays/prod"] == "excluded by .kguard.yaml exclude: app/overlays/prod"
    # dev is now the overlay; prod's patches are never scanned as whole objects
    assert "app/overlays/prod/worker-limits.yaml" not in document["scan"]["scanned"]
    assert document["scan"]["runs"] == ["kguard", "kguard/app/overlays/dev"]


def test_kustomize_directory_as_path_is_rendered() -> None:
    code, document, err = _json("scan", "manifests/overlays/production")
    assert code == 0, err
    assert document["scan"]["runs"] == ["kguard/manifests/overlays/production"]
    assert document["scan"]["resources"] > 50  # the rendered environment, not the Kustomization object
    assert document["scan"]["scanned"] == ["manifests/overlays/production/kustomization.yaml"]


def test_kustomize_tree_as_path_never_scans_patches_as_objects(repo: Path) -> None:
    shutil.rmtree(repo / "charts")
    (repo / ".kguard.yaml").unlink()
    code, document, err = _json("scan", "app", "--pss-level", "baseline")
    assert code == 1, err
    assert document["scan"]["runs"] == ["kguard/app/overlays/prod"]
    for finding in document["findings"]:
        assert finding["resource"]["namespace"] == "prod", finding  # never a patch read as a Deployment in default


def test_named_patch_renders_the_overlays_that_read_it(repo: Path) -> None:
    code, document, err = _json("scan", "app/overlays/prod/worker-limits.yaml")
    assert code == 1, err
    assert document["scan"]["runs"] == ["kguard/app/overlays/prod"]
    assert "app/overlays/prod/worker-limits.yaml" not in document["scan"]["scanned"]
    assert {f["resource"]["namespace"] for f in document["findings"]} == {"prod"}


@needs_helm
def test_chart_without_helm_or_disabled_is_listed(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / ".kguard.yaml").write_text("helm: {enabled: false}\n")
    _, document, _ = _json("scan", ".")
    assert "Helm rendering is off" in _not_scanned(document)["charts/web"]
    (repo / ".kguard.yaml").write_text(HELM_CONFIG)
    monkeypatch.setenv("PATH", str(repo / "no-tools"))
    code, out, err = _run("scan", "-q", "charts/web")  # nothing else to scan: a scan of nothing is no pass
    assert code == 2
    assert "charts/web: Helm chart: not rendered (helm is not on PATH" in err
    assert "invalid YAML" not in err + out


@needs_helm
def test_chart_error_names_the_template(repo: Path) -> None:
    template = repo / "charts" / "web" / "templates" / "deployment.yaml"
    template.write_text(CHART_TEMPLATE.replace("{{ .Values.replicas }}", "{{ .Values.replicas | nosuchfn }}"))
    code, _, err = _run("scan", "-q", "charts/web")
    assert code == 2
    assert "kguard: error: charts/web/templates/deployment.yaml:7: helm template failed" in err


@needs_helm
@pytest.mark.parametrize("command", [["scan", "--fail-on", "high"], ["precommit-kustomize", "--fail-on", "high"]])
def test_staged_chart_template_renders_its_chart(repo: Path, command: list[str]) -> None:
    code, out, err = _run(*command, "-q", "charts/web/templates/deployment.yaml")
    assert code == 1, err
    assert "invalid YAML" not in err
    assert f"charts/web/templates/deployment.yaml:{PRIVILEGED_LINE}:" in out and "pss-privileged" in out


NETPOL = """\
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels: {pod-security.kubernetes.io/enforce: restricted}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny
  namespace: shop
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
"""
WORKLOAD = WEB_DEPLOYMENT
ISOLATION = {"seg-workload-ingress-isolation", "seg-workload-egress-isolation"}


def _plain_repo(root: Path) -> None:
    (root / "deploy").mkdir(parents=True)
    (root / "deploy" / "policies.yaml").write_text(NETPOL)
    (root / "deploy" / "web.yaml").write_text(WORKLOAD)


def test_named_file_gets_its_repository_as_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _plain_repo(tmp_path)
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    _, document, _ = _json("scan", "deploy/web.yaml")
    assert not ISOLATION & {f["rule_id"] for f in document["findings"]}  # the NetworkPolicy in the other file
    assert _paths(document) <= {"deploy/web.yaml"}  # reported only on the named file
    assert document["scan"]["scanned"] == ["deploy/web.yaml"]



def test_named_file_repository_is_discovered_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan's discovery of the named file's repository is reused for its context (the pre-commit path)."""
    import scanner.plan

    _plain_repo(tmp_path)
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    roots: list[Path] = []
    real = scanner.plan.discover
    monkeypatch.setattr(scanner.plan, "discover", lambda root: roots.append(Path(root)) or real(root))
    _, document, _ = _json("scan", "deploy/web.yaml")
    assert not ISOLATION & {f["rule_id"] for f in document["findings"]}  # the context was loaded
    assert roots == [tmp_path.resolve()]


def test_an_overlay_that_renders_nothing_still_records_the_settings(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    kustomization = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: {}\n"
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "kustomization.yaml").write_text(kustomization.format("[]"))
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "kustomization.yaml").write_text(kustomization.format("[pod.yaml]"))
    (tmp_path / "app" / "pod.yaml").write_text(BAD_POD)
    monkeypatch.chdir(tmp_path)
    _, document, _ = _json("scan", "--kustomize", "empty", "--kustomize", "app", "--pss-level", "baseline")
    settings = document["settings"]
    assert settings["policies"]["source"] == "bundled"  # one value for both runs, not {"per_run": ...}
    assert settings["config"]["podSecurity"]["defaultLevel"] == "baseline"

def test_no_context_says_so_instead_of_asserting_a_gap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _plain_repo(tmp_path)  # no .git: no repository to take context from
    monkeypatch.chdir(tmp_path)
    _, document, _ = _json("scan", "deploy/web.yaml")
    assert not ISOLATION & {f["rule_id"] for f in document["findings"]}
    notes = [n for n in document["scan"]["not_evaluated"] if n["reason"].startswith("no context")]
    assert notes and notes[0]["path"] == "deploy/web.yaml"
    assert "seg-workload-ingress-isolation" in notes[0]["reason"] and "--context" in notes[0]["reason"]
    # with --context the rules run again and see the NetworkPolicy
    _, document, _ = _json("scan", "deploy/web.yaml", "--context", "deploy")
    assert not [n for n in document["scan"]["not_evaluated"] if n["reason"].startswith("no context")]
    assert not ISOLATION & {f["rule_id"] for f in document["findings"]}
    (tmp_path / "deploy" / "policies.yaml").write_text(NETPOL.split("---")[0])  # context without the policy
    _, document, _ = _json("scan", "deploy/web.yaml", "--context", "deploy")
    assert {f["rule_id"] for f in document["findings"]} >= ISOLATION


def test_without_context_self_contained_rules_still_judge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rules that need only the object itself (a wildcard ClusterRole, a Namespace below the default level) are
    never dropped for lack of context; only the ones that judge an object by others are."""
    (tmp_path / "cr.yaml").write_text("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n"
                                      "metadata: {name: god}\nrules:\n- {apiGroups: ['*'], resources: ['*'], "
                                      "verbs: ['*']}\n")
    (tmp_path / "ns.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ops\n  labels:\n"
                                      "    pod-security.kubernetes.io/enforce: privileged\n")
    monkeypatch.chdir(tmp_path)
    code, document, _ = _json("scan", "cr.yaml", "ns.yaml")
    rules = {f["rule_id"] for f in document["findings"]}
    assert {"rbac-wildcard-permissions", "pss-namespace-level-lowered"} <= rules and code == 1
    (note, *_) = [n for n in document["scan"]["not_evaluated"] if n["reason"].startswith("no context")]
    assert "rbac-binding-dangerous-permissions" in note["reason"]
    assert "rbac-wildcard-permissions" not in note["reason"] and "pss-namespace-level-lowered" not in note["reason"]


def test_this_repository_scan_is_clean() -> None:
    """The README's main command on this repository: `kguard scan .` exits 0."""
    code, _, err = _run("scan", ".", "-q")
    assert code == 0, err


@needs_helm
def test_named_chart_template_in_this_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    """The microservices chart alone has no NetworkPolicy: its context (the rest of this repository) has them, and
    the objects the overlays render too are not duplicates of the chart's (the scanned copy supersedes)."""
    assert HELM is not None
    monkeypatch.setenv("PATH", f"{HELM.parent}:{__import__('os').environ['PATH']}")
    code, document, err = _json("scan", "manifests/helm/microservices/templates/deployment.yaml")
    assert code == 0, err
    assert document["scan"]["scanned"] == ["manifests/helm/microservices/Chart.yaml"]
    assert document["scan"]["resources"] >= 3 * 5  # five services in each of the three releases
    assert document["findings"] == []
    code, document, err = _json("scan", "manifests/helm/microservices/templates/deployment.yaml",
                                "--context", "manifests/helm/microservices/values.yaml")  # a context without them
    assert {"seg-workload-ingress-isolation", "seg-workload-egress-isolation"} <= {
        f["rule_id"] for f in document["findings"]}


def test_release_naming_no_chart_is_a_usage_error(repo: Path) -> None:
    (repo / ".kguard.yaml").write_text(HELM_CONFIG.replace("chart: charts/web", "chart: charts/gone"))
    code, _, err = _run("scan", "-q", ".")
    assert code == 2
    assert "kguard: error: .kguard.yaml: helm.releases[0].chart: 'charts/gone' is not a Helm chart directory" in err
