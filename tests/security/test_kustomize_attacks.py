"""Attacks on Kustomize scanning by a pull-request author who controls every kustomization and file.

Each test builds its attack from `tests/fixtures/kustomize/attacks/<attack>` laid over `attacks/common` in a
temporary git work tree and runs the real `kubectl kustomize` through kguard (nothing is mocked). The attack must
fail visibly: the hidden overlay is scanned, the refused input is an error naming its file and line, and no secret
reaches any report format.
"""

from __future__ import annotations

import http.server
import importlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scanner.cli import app
from scanner.load import kustomize

render_module = importlib.import_module("scanner.load.kustomize.render")  # the package exports a `render` function

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kustomize"
ATTACKS = FIXTURES / "attacks"
POLICY_ARGS = ["--templates", str(FIXTURES / "templates"), "--no-default-policies", "--workers", "1"]
ECHO_ARGS = ["--templates", str(ATTACKS / "policies"), *POLICY_ARGS]
REPORT_FILES = ("kguard.sarif", "kguard.json", "kguard.txt", "kguard.html")

pytestmark = pytest.mark.integration


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    reports: dict[str, str]

    @property
    def json(self) -> dict:
        return json.loads(self.stdout)

    def everything(self) -> dict[str, str]:
        """Every output: stdout (JSON), stderr and each --report-dir file."""
        return {"stdout": self.stdout, "stderr": self.stderr, **self.reports}

    def skipped(self) -> dict[str, str]:
        return {s["path"]: s["reason"] for s in self.json["scan"]["skipped"]}


def scan_all(*extra: str) -> Outcome:
    """`kguard scan --all-overlays --format json --report-dir out` in the current directory."""
    result = CliRunner().invoke(app, ["scan", "--all-overlays", "--format", "json", "--report-dir", "out", *extra])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    reports = {name: Path("out", name).read_text() for name in REPORT_FILES if Path("out", name).is_file()}
    assert len(reports) == len(REPORT_FILES), reports.keys()
    return Outcome(result.exit_code, result.stdout, result.stderr, reports)


def assert_in_every_report(outcome: Outcome, *needles: str) -> None:
    for name, text in outcome.reports.items():
        for needle in needles:
            assert needle in text or needle in text.replace("&lt;", "<").replace("&gt;", ">"), (name, needle)


@pytest.fixture
def attack_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """``attack_repo(name, port=None)``: the attack laid over `common` as the cwd git work tree."""

    def make(name: str, port: int | None = None) -> Path:
        repo = tmp_path / "repo"
        shutil.copytree(ATTACKS / "common", repo)
        shutil.copytree(ATTACKS / name, repo, dirs_exist_ok=True)
        (repo / ".git").mkdir()
        for kfile in repo.rglob("kustomization.yaml"):
            kfile.write_text(kfile.read_text().replace("{PORT}", str(port)))
        monkeypatch.chdir(repo)
        return repo

    return make


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fetched\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_HEAD = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[tuple[int, list[str]]]:
    """A local HTTP server on 127.0.0.1 that serves a ConfigMap for any path; yields (port, requested paths)."""
    requests: list[str] = []
    handler = type("Recorder", (_Recorder,), {"requests": requests})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], requests
    finally:
        server.shutdown()
        server.server_close()


# --- overlays must not vanish from discovery ----------------------------------------------------------------------


def test_decoy_component_does_not_hide_an_overlay(attack_repo: Callable[..., Path]) -> None:
    repo = attack_repo("decoy-component")
    found = kustomize.discover(repo)
    assert found.overlays == [repo / "overlays" / "prod"]
    assert kustomize.precommit_overlays(["base/deployment.yaml"], repo) == [str(repo / "overlays" / "prod")]
    outcome = scan_all(*POLICY_ARGS)
    assert outcome.code == 1
    assert outcome.json["scan"]["runs"] == ["kguard/overlays/prod"]
    assert {f["rule_id"] for f in outcome.json["findings"]} == {"test-privileged"}
    assert outcome.skipped() == {"decoy/kustomization.yaml": "component (no scanned overlay uses it)",
                                 "base/kustomization.yaml": "base of overlays/prod"}
    assert_in_every_report(outcome, "decoy/kustomization.yaml", "component (no scanned overlay uses it)")


def test_excluded_kustomization_does_not_hide_an_overlay(attack_repo: Callable[..., Path]) -> None:
    repo = attack_repo("excluded-decoy")
    assert kustomize.discover(repo).overlays == [repo / "overlays" / "prod"]
    outcome = scan_all(*POLICY_ARGS)
    assert outcome.code == 1 and outcome.json["scan"]["runs"] == ["kguard/overlays/prod"]
    reason = "excluded by .kguard.yaml exclude: tests"
    assert outcome.skipped()["tests/decoy/kustomization.yaml"] == reason
    assert_in_every_report(outcome, "tests/decoy/kustomization.yaml", reason)


def test_hidden_kustomization_does_not_hide_an_overlay(attack_repo: Callable[..., Path]) -> None:
    repo = attack_repo("hidden-decoy")
    assert kustomize.discover(repo).overlays == [repo / "overlays" / "prod"]
    outcome = scan_all(*POLICY_ARGS)
    assert outcome.code == 1 and outcome.json["scan"]["runs"] == ["kguard/overlays/prod"]
    assert outcome.skipped()[".deploy/decoy/kustomization.yaml"] == "in the hidden directory .deploy"


def test_broken_kustomization_does_not_hide_an_overlay_and_is_an_error(attack_repo: Callable[..., Path]) -> None:
    repo = attack_repo("broken-decoy")
    found = kustomize.discover(repo)
    assert found.overlays == [repo / "overlays" / "prod"]
    (error,) = found.errors
    assert (error.path, error.line) == ("decoy/kustomization.yaml", 5)
    outcome = scan_all(*POLICY_ARGS)
    assert outcome.code == 2  # broken input, but prod is still scanned and its findings reported
    assert {f["rule_id"] for f in outcome.json["findings"]} == {"test-privileged"}
    assert outcome.skipped()["decoy/kustomization.yaml"].startswith("broken: line 5: ")
    assert "kguard: error: decoy/kustomization.yaml:5: invalid kustomization: " in outcome.stderr
    assert_in_every_report(outcome, "decoy/kustomization.yaml")


def test_self_reference_does_not_hide_an_overlay(attack_repo: Callable[..., Path], tmp_path: Path) -> None:
    repo = attack_repo("self-reference")
    assert kustomize.discover(repo).overlays == [repo / "overlays" / "prod"]
    outcome = scan_all(*POLICY_ARGS)
    assert outcome.code == 2  # kustomize refuses the cycle: the overlay is an input error, not a silent pass
    (error,) = outcome.json["scan"]["input_errors"]
    assert error["path"] == "overlays/prod" and "cycle detected" in error["message"]
    assert str(tmp_path) not in outcome.stdout + outcome.stderr


def test_config_exclusion_is_listed_with_its_source(attack_repo: Callable[..., Path]) -> None:
    repo = attack_repo("config-exclude")
    outcome = scan_all(*POLICY_ARGS)
    assert outcome.json["scan"]["runs"] == ["kguard/overlays/dev"]
    reason = "excluded by .kguard.yaml exclude: overlays/prod"
    assert outcome.skipped()["overlays/prod/kustomization.yaml"] == reason
    assert_in_every_report(outcome, "overlays/prod/kustomization.yaml", reason)
    (repo / ".kguard.yaml").write_text("overlays:\n  - overlays/dev\n")
    outcome = scan_all(*POLICY_ARGS)
    assert outcome.json["scan"]["runs"] == ["kguard/overlays/dev"]
    reason = "not listed in .kguard.yaml overlays:"
    assert outcome.skipped()["overlays/prod/kustomization.yaml"] == reason
    assert_in_every_report(outcome, reason)


# --- no network, no .git ------------------------------------------------------------------------------------------


def test_remote_references_are_refused_without_contacting_them(
        attack_repo: Callable[..., Path], http_server: tuple[int, list[str]]) -> None:
    port, requests = http_server
    attack_repo("remote", port=port)
    outcome = scan_all(*POLICY_ARGS)
    assert outcome.code == 2
    errors = {e["path"]: e["message"] for e in outcome.json["scan"]["input_errors"]}
    expected = {
        "overlays/http": f"remote resource http://127.0.0.1:{port}/http/deployment.yaml (resources) in "
                         "overlays/http/kustomization.yaml:3",
        "overlays/git": f"remote resource git::http://127.0.0.1:{port}/git/repo.git//deploy?ref=main (resources) in "
                        "overlays/git/kustomization.yaml:2",
        "overlays/generator-file": f"remote resource http://127.0.0.1:{port}/generator/settings.env "
                                   "(configMapGenerator[0].files) in overlays/generator-file/kustomization.yaml:4",
        "overlays/github": "remote resource github.com/kguard-test/not-a-repo/deploy?ref=v1.0.0 (resources) in "
                           "overlays/github/kustomization.yaml:2",
        "overlays/nested": f"remote resource https://127.0.0.1:{port}/nested/deployment.yaml (resources) in "
                           "holder/kustomization.yaml:3",
    }
    assert set(errors) == set(expected)
    for overlay, message in expected.items():
        assert errors[overlay].startswith(f"not scanned: {message} "), errors[overlay]
    assert "kguard/overlays/prod" in outcome.json["scan"]["runs"]
    assert {f["rule_id"] for f in outcome.json["findings"]} == {"test-privileged"}  # prod is still scanned
    assert requests == []


def test_remote_values_and_plugin_configs_are_refused_without_contacting_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_server: tuple[int, list[str]]) -> None:
    """Helm values files, the legacy helmChartInflationGenerator and builtin generator/transformer configs (inline
    or in a file) name URLs kustomize fetches through its loader; Go does not proxy 127.0.0.1, so the guard must
    refuse them all before kubectl runs."""
    port, requests = http_server
    url = f"http://127.0.0.1:{port}"
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    cases = {
        "values": (f"helmCharts:\n- name: c\n  additionalValuesFiles:\n  - {url}/values.yaml\n",
                   f"{url}/values.yaml (helmCharts[0].additionalValuesFiles) in overlays/values/kustomization.yaml:4"),
        "legacy": (f"helmChartInflationGenerator:\n- chartName: c\n  values: {url}/legacy.yaml\n",
                   f"{url}/legacy.yaml (helmChartInflationGenerator[0].values) in "
                   "overlays/legacy/kustomization.yaml:3"),
        "legacy-repo": (f"helmChartInflationGenerator:\n- chartName: c\n  chartRepoUrl: {url}/charts\n",
                        f"repository {url}/charts (helmChartInflationGenerator[0].chartRepoUrl) in "
                        "overlays/legacy-repo/kustomization.yaml:3"),
        "generator-file": ("generators:\n- gen.yaml\n",
                           f"{url}/generated.env (generators[0] ConfigMapGenerator: files) in "
                           "overlays/generator-file/kustomization.yaml:2"),
        "inline-transformer": ("transformers:\n- |-\n  apiVersion: builtin\n  kind: PatchTransformer\n"
                               f"  metadata:\n    name: p\n  path: {url}/patch.yaml\n",
                               f"{url}/patch.yaml (transformers[0] PatchTransformer: path) in "
                               "overlays/inline-transformer/kustomization.yaml:2"),
    }
    for name, (text, _) in cases.items():
        (repo / "overlays" / name).mkdir(parents=True)
        (repo / "overlays" / name / "kustomization.yaml").write_text(text)
    for name in ("values", "legacy"):  # a vendored chart: without the guard, kustomize would fetch the values
        (repo / "overlays" / name / "charts" / "c").mkdir(parents=True)
        (repo / "overlays" / name / "charts" / "c" / "Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 0.1.0\n")
    (repo / "overlays" / "generator-file" / "gen.yaml").write_text(
        f"apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata:\n  name: g\nfiles:\n- {url}/generated.env\n")
    monkeypatch.chdir(repo)
    for name, (_, expected) in cases.items():
        (error,) = kustomize.load_overlay(repo / "overlays" / name).errors
        assert error.message.startswith("not scanned: remote ") and expected in error.message, error.message
    assert requests == []


def test_kubectl_runs_without_network_even_past_the_guard(tmp_path: Path, http_server: tuple[int, list[str]]) -> None:
    """Belt and braces: kubectl itself, given remote entries directly, reaches neither a host nor a git server.

    (Go never proxies 127.0.0.1, which is why the guard refuses remote entries before kubectl runs; other hosts go
    to the blocking proxy, and git may use no transport at all.)
    """
    port, requests = http_server
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    kubectl = kustomize.kubectl_binary()

    def run_past_guard(entry: str) -> str:
        (overlay / "kustomization.yaml").write_text(f"resources:\n  - {entry}\n")
        done = subprocess.run([kubectl, "kustomize", str(overlay)], capture_output=True, text=True, timeout=120,
                              env=render_module.offline_env(), check=False)
        assert done.returncode != 0
        return done.stderr

    message = run_past_guard("http://kguard-canary.invalid/deployment.yaml")
    assert "proxyconnect" in message and "127.0.0.1:9" in message
    message = run_past_guard(f"git::http://127.0.0.1:{port}/git/repo.git//deploy?ref=main")
    assert requests == []
    assert shutil.which("git") is None or "transport 'http' not allowed" in message, message


def test_git_metadata_never_reaches_a_report(attack_repo: Callable[..., Path]) -> None:
    repo = attack_repo("git-loot")
    canary = "CANARY-CHECKOUT-TOKEN-93b1c4"
    (repo / ".git" / "config").write_text(
        f'[http "https://github.com/"]\n\textraheader = AUTHORIZATION: basic {canary}\n')
    os.symlink("../../.git/config", repo / "overlays" / "symlink" / "notes.txt")
    outcome = scan_all(*ECHO_ARGS)
    assert outcome.code == 2
    errors = {e["path"]: e["message"] for e in outcome.json["scan"]["input_errors"]}
    assert errors["."].startswith("not scanned: .git/config in kustomization.yaml:7 is under a .git/ directory")
    assert errors["overlays/symlink"].startswith(
        "not scanned: notes.txt in overlays/symlink/kustomization.yaml:7 is under a .git/ directory")
    echoed = " ".join(f["message"] for f in outcome.json["findings"] if f["rule_id"] == "test-echo-object")
    assert "kind:Secret" in echoed.replace(" ", "") or "Secret" in echoed  # the policies saw the generated objects
    assert "<redacted>" in echoed
    for name, text in outcome.everything().items():
        for secret in (canary, "CANARY-SECRET-FILE-7f3a9c", "CANARY-CONFIG-ENV-51d2e8", "Q0FOQVJZ"):
            assert secret not in text, (name, secret)


def test_outside_the_repository_and_chart_home_under_git_are_refused(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Symlinks and directories out of the work tree, a Helm chart home inside .git/, a symlink loop: refused."""
    repo = tmp_path / "repo"
    shutil.copytree(ATTACKS / "common", repo)
    (repo / ".git").mkdir()
    outside = tmp_path / "runner-home"
    (outside / "base").mkdir(parents=True)
    (outside / "base" / "kustomization.yaml").write_text("resources: []\n")
    (outside / "token.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: runner-token\n")
    cases = {
        "link": ("resources:\n  - token.yaml\n", "token.yaml in overlays/link/kustomization.yaml:2 is outside"),
        "dir": (f"resources:\n  - {os.path.relpath(outside / 'base', repo / 'overlays' / 'dir')}\n",
                "is outside the repository"),
        "charts": ("helmGlobals:\n  chartHome: ../../.git/charts\n",
                   "../../.git/charts in overlays/charts/kustomization.yaml:2 is under a .git/ directory"),
        "loop": ("resources:\n  - a\n", "a in overlays/loop/kustomization.yaml:2 cannot be resolved (symlink loop)"),
    }
    for name, (text, _) in cases.items():
        (repo / "overlays" / name).mkdir()
        (repo / "overlays" / name / "kustomization.yaml").write_text(text)
    os.symlink(outside / "token.yaml", repo / "overlays" / "link" / "token.yaml")
    os.symlink("b", repo / "overlays" / "loop" / "a")
    os.symlink("a", repo / "overlays" / "loop" / "b")
    monkeypatch.chdir(repo)
    for name, (_, expected) in cases.items():
        (error,) = kustomize.load_overlay(repo / "overlays" / name).errors
        assert error.message.startswith("not scanned: ") and expected in error.message, error.message


def test_a_chart_home_linking_out_of_the_repository_is_refused(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """kustomize's load restrictor does not cover helm, which follows symbolic links in a vendored chart: a link
    to a runner's file (directly, or through a linked directory) would be rendered as an object."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    outside = tmp_path / "runner-home"
    outside.mkdir()
    (outside / "token.yaml").write_text("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: CANARY-TOKEN\n")
    (repo / "shared").mkdir()
    os.symlink(outside / "token.yaml", repo / "shared" / "token.yaml")
    cases = {
        "file": ("helmCharts:\n- name: c\n", "overlays/file/charts/c/templates/leak.yaml"),
        "linked-dir": ("helmGlobals:\n  chartHome: vendor\nhelmCharts:\n- name: c\n", "shared/token.yaml"),
        "legacy": ("helmChartInflationGenerator:\n- chartName: c\n", "overlays/legacy/charts/c/templates/leak.yaml"),
    }
    for name, (text, _) in cases.items():
        home = repo / "overlays" / name / ("vendor" if name == "linked-dir" else "charts")
        (home / "c" / "templates").mkdir(parents=True)
        (home / "c" / "Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 0.1.0\n")
        (home / "c" / "values.yaml").write_text("{}\n")
        (repo / "overlays" / name / "kustomization.yaml").write_text(text)
        if name == "linked-dir":
            os.symlink("../../../../../shared", home / "c" / "templates" / "shared")
        else:
            os.symlink(outside / "token.yaml", home / "c" / "templates" / "leak.yaml")
    monkeypatch.chdir(repo)
    for name, (_, link) in cases.items():
        loaded = kustomize.load_overlay(repo / "overlays" / name)
        assert loaded.resources == []
        (error,) = loaded.errors
        assert error.message.startswith(f"not scanned: symbolic link {link} in the Helm chart home of "
                                        f"overlays/{name}/kustomization.yaml leads outside"), error.message


def test_runner_paths_are_shown_relative_to_the_repository(attack_repo: Callable[..., Path], tmp_path: Path) -> None:
    attack_repo("absolute-paths")
    outcome = scan_all(*POLICY_ARGS)
    assert outcome.code == 2
    errors = {e["path"]: e["message"] for e in outcome.json["scan"]["input_errors"]}
    assert "overlays/does-not-exist" in errors["overlays/missing"]
    assert "base" in errors["overlays/wrong-kind"] and "Component" in errors["overlays/wrong-kind"]
    for name, text in outcome.everything().items():
        assert str(tmp_path) not in text and str(Path.home()) not in text, name


def test_render_retry_shares_one_time_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrapper render that runs out of time is not retried with a fresh limit (the limit is per overlay)."""
    docs = [f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}\ndata:\n  k: v{i}\n" for i in range(1500)]
    (tmp_path / "many.yaml").write_text("---\n".join(docs))
    (tmp_path / "kustomization.yaml").write_text(
        "resources: [many.yaml]\nlabels:\n  - pairs: {a: b}\n    includeSelectors: true\n")
    monkeypatch.setattr(render_module, "RENDER_TIMEOUT", 1.0)
    started = time.monotonic()
    (error,) = kustomize.load_overlay(tmp_path).errors
    elapsed = time.monotonic() - started
    assert "took longer than 1s" in error.message
    assert elapsed < 1.8, elapsed


# --- the CI gate takes .kguard.yaml from the base branch ----------------------------------------------------------


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True, env={
        **os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"})
    return done.stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
@pytest.mark.parametrize("source", ["workflow", "action"])
def test_ci_gate_scans_with_the_base_branch_config(tmp_path: Path, source: str) -> None:
    """A pull request that excludes prod in .kguard.yaml (and adds one deeper down) is scanned with the base
    branch's configuration, and the run warns about it (the CI gate's step and the composite action's)."""
    import yaml

    repo_root = Path(__file__).resolve().parents[2]
    workflow = yaml.safe_load((repo_root / ".github" / "workflows" / "kguard.yml").read_text())
    steps = {s.get("name"): s for s in workflow["jobs"]["overlays"]["steps"]}
    restore = steps["Use the base branch's .kguard.yaml"]["run"]
    if source == "action":
        action = yaml.safe_load((repo_root / "action.yml").read_text())
        restore = next(s for s in action["runs"]["steps"] if s.get("name") == "Use the base branch's .kguard.yaml")["run"]
    discover_step = steps["Discover overlays (.kguard.yaml or unreferenced kustomizations)"]["run"]
    origin = tmp_path / "origin"
    shutil.copytree(ATTACKS / "common", origin / "manifests")
    (origin / "manifests" / ".kguard.yaml").write_text("exclude: []\n")
    _git(origin, "init", "-q", "-b", "main")
    _git(origin, "add", ".")
    _git(origin, "commit", "-qm", "base")
    base_sha = _git(origin, "rev-parse", "HEAD")
    checkout = tmp_path / "checkout"
    _git(tmp_path, "clone", "-q", str(origin), str(checkout))
    (checkout / "manifests" / ".kguard.yaml").write_text("exclude: [overlays/prod]\n")
    (checkout / "manifests" / "overlays" / ".kguard.yaml").write_text("overlays: []\n")
    _git(checkout, "add", ".")
    _git(checkout, "commit", "-qm", "pull request")
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "BASE_SHA": base_sha, "WARN": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output),
           "OVERLAY_ROOT": "manifests", "GIT_CONFIG_GLOBAL": os.devnull}
    for script in (restore, discover_step):
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=checkout,
                              env=env, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        if script is restore:
            assert done.stdout.count("::warning title=kguard configuration::") == 2
    assert (checkout / "manifests" / ".kguard.yaml").read_text() == "exclude: []\n"
    assert not (checkout / "manifests" / "overlays" / ".kguard.yaml").exists()
    assert json.loads(output.read_text().split("overlays=", 1)[1]) == ["manifests/overlays/prod"]
    text = summary.read_text()
    assert "`manifests/.kguard.yaml` is changed by this pull request" in text
    assert "| `manifests/base/kustomization.yaml` | base of manifests/overlays/prod |" in text
