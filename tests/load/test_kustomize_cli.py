"""`kguard scan --kustomize/--all-overlays/--baseline` and `kguard precommit-kustomize` end to end (real kubectl)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from scanner.cli import app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kustomize"
POLICY_ARGS = ["--templates", str(FIXTURES / "templates"), "--no-default-policies"]
TEMPLATE_ARGS = [*POLICY_ARGS, "--workers", "1"]

pytestmark = pytest.mark.integration


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git work tree holding the fixture app; the cwd, so that paths are repository-relative."""
    shutil.copytree(FIXTURES / "app", tmp_path / "app")
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout


def test_all_overlays_one_sarif_run_per_overlay(repo: Path) -> None:
    (repo / "app" / "overlays" / "stage").mkdir()
    (repo / "app" / "overlays" / "stage" / "kustomization.yaml").write_text("resources: [../../base]\nnamespace: st\n")
    code, out = _run("scan", "--all-overlays", "app", "--format", "sarif", *TEMPLATE_ARGS)
    assert code == 1
    runs = json.loads(out)["runs"]
    ids = [r["automationDetails"]["id"] for r in runs]
    assert ids == ["kguard/app/overlays/prod/", "kguard/app/overlays/stage/"]
    uris = {res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for res in runs[0]["results"]}
    assert "app/components/debug/kustomization.yaml" in uris and "app/overlays/prod/worker-image.yaml" in uris
    schema = json.loads((Path(__file__).parents[1] / "report" / "schemas" / "sarif-2.1.0-rtm.5.json").read_text())
    jsonschema.validate(json.loads(out), schema)
    _, again = _run("scan", "--all-overlays", "app", "--format", "sarif", *TEMPLATE_ARGS)
    assert again == out  # deterministic


def test_broken_overlay_exits_2_and_others_still_scan(repo: Path) -> None:
    broken = repo / "app" / "overlays" / "broken"
    broken.mkdir()
    (broken / "kustomization.yaml").write_text("resources: [gone.yaml]\n")
    code, out = _run("scan", "--kustomize", "app/overlays/broken", "--kustomize", "app/overlays/dev",
                     "--format", "json", *TEMPLATE_ARGS)
    assert code == 2
    document = json.loads(out)
    assert {f["rule_id"] for f in document["findings"]} >= {"test-privileged", "test-latest-tag"}


def test_baseline_write_then_only_new_findings_count(repo: Path) -> None:
    code, _ = _run("scan", "--kustomize", "app/overlays/dev", "--write-baseline", "kguard-baseline.json",
                   "--format", "json", *TEMPLATE_ARGS)
    assert code == 0
    assert json.loads((repo / "kguard-baseline.json").read_text())["findings"]
    code, out = _run("scan", "--kustomize", "app/overlays/dev", "--baseline", "kguard-baseline.json",
                     "--format", "json", *TEMPLATE_ARGS)
    assert code == 0
    assert all(f["suppressed"] for f in json.loads(out)["findings"])
    patch = repo / "app" / "overlays" / "dev" / "sidecar-privileged.yaml"
    patch.write_text(patch.read_text().replace("    spec:\n", "    spec:\n      hostNetwork: true\n"))
    code, out = _run("scan", "--kustomize", "app/overlays/dev", "--baseline", "kguard-baseline.json",
                     "--format", "json", *TEMPLATE_ARGS)
    assert code == 1
    new = [f for f in json.loads(out)["findings"] if not f["suppressed"]]
    assert [f["rule_id"] for f in new] == ["test-host-network"]


def test_precommit_kustomize_scans_only_affected_overlays(repo: Path) -> None:
    code, out = _run("precommit-kustomize", "README.md", *POLICY_ARGS)
    assert (code, out) == (0, "")
    code, out = _run("precommit-kustomize", "app/base/workloads.yaml", "--quiet", *POLICY_ARGS)
    assert code == 1
    assert "app/base/workloads.yaml" in out


def test_all_overlays_defaults_to_the_current_directory_and_honours_config(repo: Path) -> None:
    (repo / ".kguard.yaml").write_text("overlays:\n  - app/overlays/dev\n")
    code, out = _run("scan", "--all-overlays", "--format", "json", *TEMPLATE_ARGS)
    assert code == 1
    assert json.loads(out)["scan"]["runs"] == ["kguard/app/overlays/dev"]
    (repo / ".kguard.yaml").write_text("overlays:\n  - app/overlays/nope\n")
    code, _ = _run("scan", "--all-overlays", *TEMPLATE_ARGS)
    assert code == 2
