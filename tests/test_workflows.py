"""GitHub workflows and the composite action: validated by the real check-jsonschema and actionlint, plus the
exit-code contract (upload SARIF first, then fail by kguard's exit code)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.git import GIT_ENV, git
from tests.fixtures.tools import find_tool

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
ACTION = REPO / "action.yml"
UPLOAD = "github/codeql-action/upload-sarif@v3"


def _load(path: Path) -> dict[Any, Any]:
    return yaml.safe_load(path.read_text())


def _check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    tool = Path(sys.executable).parent / "check-jsonschema"
    assert tool.is_file(), "check-jsonschema is missing: pip install check-jsonschema"
    return subprocess.run([str(tool), "--builtin-schema", schema, *map(str, files)],
                          capture_output=True, text=True, timeout=120, check=False)


def _actionlint(*files: Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    tool = find_tool("actionlint")
    assert tool is not None, "actionlint is missing: scripts/install-tools.sh builds it"
    return subprocess.run([str(tool), "-no-color", *map(str, files)], capture_output=True, text=True, timeout=120,
                          check=False, cwd=cwd)


def test_workflows_exist() -> None:
    assert {p.name for p in WORKFLOWS} >= {"kguard.yml", "nightly-audit.yml", "action-selftest.yml"}


@pytest.mark.integration
@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_schema(workflow: Path) -> None:
    done = _check_jsonschema("vendor.github-workflows", workflow)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.integration
@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_actionlint(workflow: Path) -> None:
    done = _actionlint(workflow.relative_to(REPO))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.integration
def test_action_schema() -> None:
    done = _check_jsonschema("vendor.github-actions", ACTION)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.integration
def test_validators_reject_broken_files(tmp_path: Path) -> None:
    broken = _load(REPO / ".github" / "workflows" / "kguard.yml")
    broken["jobs"]["scan"]["runs-on"] = ["ubuntu-latest", {"bad": True}]
    broken["jobs"]["scan"]["steps"][0]["uses"] = "actions/checkout"  # no ref
    path = tmp_path / ".github" / "workflows" / "broken.yml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(broken))
    assert _check_jsonschema("vendor.github-workflows", path).returncode != 0
    assert _actionlint(path, cwd=tmp_path).returncode != 0
    action = _load(ACTION)
    del action["runs"]["using"]
    (tmp_path / "action.yml").write_text(yaml.safe_dump(action))
    assert _check_jsonschema("vendor.github-actions", tmp_path / "action.yml").returncode != 0


def _steps_with_upload(document: dict[Any, Any]) -> list[tuple[str, dict[Any, Any], list[dict[Any, Any]]]]:
    jobs = document.get("jobs") or {}
    return [(name, job, job["steps"]) for name, job in jobs.items()
            if any(s.get("uses") == UPLOAD for s in job.get("steps", []))]


@pytest.mark.parametrize("name", ["kguard.yml", "nightly-audit.yml"])
def test_upload_then_fail_by_exit_code(name: str) -> None:
    document = _load(REPO / ".github" / "workflows" / name)
    uploading = _steps_with_upload(document)
    assert uploading, "the workflow uploads SARIF"
    for job_name, job, steps in uploading:
        assert job["permissions"]["security-events"] == "write", job_name
        upload_at = next(i for i, s in enumerate(steps) if s.get("uses") == UPLOAD)
        assert "always()" in steps[upload_at]["if"]
        scan = next(s for s in steps if s.get("id") in ("scan", "audit"))
        assert "set +e" in scan["run"] and "exit-code=" in scan["run"]
        final = steps[-1]
        assert upload_at < len(steps) - 1 and "always()" in final["if"] and 'exit "${CODE' in final["run"]


def test_ci_gate_uses_one_category_per_overlay() -> None:
    document = _load(REPO / ".github" / "workflows" / "kguard.yml")
    scan = document["jobs"]["scan"]
    assert scan["strategy"]["matrix"]["overlay"].startswith("${{ fromJSON(")
    upload = next(s for s in scan["steps"] if s.get("uses") == UPLOAD)
    assert upload["with"]["category"] == "kguard/${{ matrix.overlay }}"
    install = [s for job in document["jobs"].values() for s in job["steps"] if s.get("name") == "Install kguard"]
    assert install and all("pip install ." in s["run"] for s in install)


def test_nightly_audit_is_scheduled_with_kubeconfig_secret() -> None:
    document = _load(REPO / ".github" / "workflows" / "nightly-audit.yml")
    triggers = document[True] if True in document else document["on"]  # PyYAML reads `on:` as True
    assert triggers["schedule"][0]["cron"]
    steps = document["jobs"]["audit"]["steps"]
    audit = next(s for s in steps if s.get("id") == "audit")
    assert "kguard audit --kubeconfig" in audit["run"] and "--format sarif" in audit["run"]
    assert "--report-dir reports/audit" in audit["run"]
    summary = next(s for s in steps if s.get("name") == "Job summary")
    assert "always()" in summary["if"] and 'cat reports/audit/kguard.md >> "$GITHUB_STEP_SUMMARY"' in summary["run"]
    secrets = [s for s in steps if "secrets." in str(s.get("env", {}))]
    assert secrets and "KGUARD_KUBECONFIG" in str(secrets[0]["env"])


def test_action_inputs() -> None:
    action = _load(ACTION)
    assert set(action["inputs"]) >= {"paths", "kustomize", "format", "fail-on", "sarif-file", "upload"}
    assert action["inputs"]["kustomize"]["default"] == "repo"  # the repository scan is the default
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    upload = next(i for i, s in enumerate(steps) if s.get("uses") == UPLOAD)
    assert "always()" in steps[upload]["if"] and 'exit "${CODE' in steps[-1]["run"] and upload < len(steps) - 1


def _step(document: dict[Any, Any], job: str, name: str) -> dict[Any, Any]:
    return next(s for s in document["jobs"][job]["steps"] if s.get("name") == name)


def _bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a workflow step's script the way GitHub does (bash -e -o pipefail), kguard from this venv."""
    import os

    full_env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **env}
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=cwd,
                          env=full_env, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.integration
def test_ci_gate_steps_run_for_real(tmp_path: Path) -> None:
    import json
    import shutil

    document = _load(REPO / ".github" / "workflows" / "kguard.yml")
    shutil.copytree(REPO / "tests" / "fixtures" / "kustomize" / "app", tmp_path / "manifests")
    (tmp_path / ".git").mkdir()
    output = tmp_path / "github-output"
    output.touch()
    env = {"OVERLAY_ROOT": "manifests", "GITHUB_OUTPUT": str(output)}
    done = _bash(_step(document, "overlays", "Discover overlays (.kguard.yaml or unreferenced kustomizations)")["run"],
                 tmp_path, env)
    assert done.returncode == 0, done.stderr
    overlays = json.loads(output.read_text().split("overlays=", 1)[1])
    assert overlays == ["manifests/overlays/prod"]

    output.write_text("")
    scan_env = {**env, "OVERLAY": overlays[0], "FAIL_ON": "high", "SARIF": "reports/kguard.sarif"}
    done = _bash(_step(document, "scan", "Scan overlay")["run"], tmp_path, scan_env)
    assert done.returncode == 0, done.stderr  # the scan step never fails: the last step does
    assert output.read_text().strip() == "exit-code=1"  # default policies: a privileged container
    sarif = json.loads((tmp_path / "reports" / "kguard.sarif").read_text())
    assert [r["automationDetails"]["id"] for r in sarif["runs"]] == ["kguard/manifests/overlays/prod/"]
    assert done.stdout.rstrip().splitlines()[-1].startswith("blocked: ")  # the compact report in the job log

    summary = tmp_path / "step-summary.md"
    done = _bash(_step(document, "scan", "Job summary")["run"], tmp_path, {"GITHUB_STEP_SUMMARY": str(summary)})
    assert done.returncode == 0, done.stderr
    assert summary.read_text().startswith("## kguard: blocked: ")
    assert "[`pss-privileged`]" in summary.read_text()

    final = _step(document, "scan", "Fail by kguard's exit code")["run"]
    assert _bash(final, tmp_path, {"CODE": "1"}).returncode == 1
    assert _bash(final, tmp_path, {"CODE": "0"}).returncode == 0
    assert _bash(final, tmp_path, {"CODE": ""}).returncode == 2


@pytest.mark.integration
@pytest.mark.parametrize(("paths", "kustomize", "runs"), [
    ("", "repo", ["kguard/manifests/overlays/prod/"]),  # the default: `kguard scan .`
    ("manifests", "all", ["kguard/manifests/overlays/prod/"]),
    ("", "manifests/overlays/dev\nmanifests/overlays/prod\n", ["kguard/manifests/overlays/dev/",
                                                               "kguard/manifests/overlays/prod/"]),
])
def test_action_scan_step_runs_for_real(tmp_path: Path, paths: str, kustomize: str, runs: list[str]) -> None:
    import json
    import shutil

    action = _load(ACTION)
    scan = next(s for s in action["runs"]["steps"] if s.get("id") == "scan")
    shutil.copytree(REPO / "tests" / "fixtures" / "kustomize" / "app", tmp_path / "manifests")
    (tmp_path / ".git").mkdir()
    output = tmp_path / "github-output"
    output.touch()
    env = {"KGUARD_PATHS": paths, "KGUARD_KUSTOMIZE": kustomize, "KGUARD_FORMAT": "sarif",
           "KGUARD_FAIL_ON": "high", "KGUARD_OUTPUT": "out/kguard.sarif", "KGUARD_ARGS": "--pss-level baseline",
           "GITHUB_OUTPUT": str(output)}
    done = _bash(scan["run"], tmp_path, {**env, "RUNNER_TEMP": str(tmp_path / "runner-temp")})
    assert done.returncode == 0, done.stderr
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert outputs["exit-code"] == "1"
    sarif = json.loads((tmp_path / "out" / "kguard.sarif").read_text())
    assert [r["automationDetails"]["id"] for r in sarif["runs"]] == runs
    # the job log gets the compact report and its verdict; the job summary the Markdown report
    assert done.stdout.rstrip().splitlines()[-1].startswith("blocked: ")
    assert "pss-privileged" in done.stdout and "field:" not in done.stdout
    assert outputs["reports"] == str(tmp_path / "runner-temp" / "kguard-reports")
    summary = tmp_path / "step-summary.md"
    step = next(s for s in action["runs"]["steps"] if s.get("name") == "Job summary")
    assert "steps.scan.outputs.reports" in step["if"] and "always()" in step["if"]
    done = _bash(step["run"], tmp_path, {"REPORTS": outputs["reports"], "GITHUB_STEP_SUMMARY": str(summary)})
    assert done.returncode == 0, done.stderr
    assert summary.read_text().startswith("## kguard: blocked: ")


def test_ci_runs_the_projects_own_tests_on_pushes_and_pull_requests() -> None:
    workflow = _load(REPO / ".github" / "workflows" / "ci.yml")
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert {"push", "pull_request"} <= set(triggers)
    assert triggers["push"] is None and triggers["pull_request"] is None  # every branch, every path
    (job,) = workflow["jobs"].values()
    assert job["timeout-minutes"] <= 90
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert runs == ["bash .ci/run"]
    uses = {step["uses"].split("@")[0] for step in job["steps"] if "uses" in step}
    assert {"actions/checkout", "actions/setup-python", "actions/setup-go", "actions/setup-node"} <= uses
    assert (REPO / ".ci" / "run").is_file()


def _restore_config_script(place: str) -> str:
    """The "Use the base branch's .kguard.yaml" script of the CI gate (every job runs the same one) or the action."""
    document = _load(ACTION if place == "action.yml" else REPO / ".github" / "workflows" / place)
    steps = document["runs"]["steps"] if place == "action.yml" else [
        step for job in document["jobs"].values() for step in job["steps"]]
    (script,) = {step["run"] for step in steps if step.get("name") == "Use the base branch's .kguard.yaml"}
    return script


@pytest.mark.parametrize("place", ["kguard.yml", "action.yml"])
def test_base_config_survives_a_renamed_kguard_yaml(tmp_path: Path, place: str) -> None:
    """A pull request that moves .kguard.yaml elsewhere is scanned with the base branch's file where it was (git's
    rename detection would list only the new name, and the old one would stay deleted)."""
    base_config = "failOn: low\nhelm: {enabled: true}\n"
    (tmp_path / ".kguard.yaml").write_text(base_config)
    (tmp_path / "app").mkdir()
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "base")
    base_sha = git(tmp_path, "rev-parse", "HEAD")
    git(tmp_path, "remote", "add", "origin", str(tmp_path))
    git(tmp_path, "mv", ".kguard.yaml", "app/.kguard.yaml")
    git(tmp_path, "commit", "-qm", "pull request")
    summary = tmp_path.parent / f"{tmp_path.name}-summary.md"
    done = _bash(_restore_config_script(place), tmp_path,
                 {**GIT_ENV, "BASE_SHA": base_sha, "WARN": "true", "GITHUB_STEP_SUMMARY": str(summary)})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / ".kguard.yaml").read_text() == base_config
    assert not (tmp_path / "app" / ".kguard.yaml").exists()
    assert "::warning title=kguard configuration::.kguard.yaml is changed" in done.stdout


@pytest.mark.parametrize("path", [*WORKFLOWS, ACTION], ids=lambda p: p.name)
def test_run_scripts_take_expressions_through_env_only(path: Path) -> None:
    """No `${{ }}` inside a `run:` script: GitHub pastes an expression's value into the script text, so a branch
    name, an overlay directory or an input could inject shell; values reach scripts as environment variables."""
    document = _load(path)
    jobs = document.get("jobs") or {"runs": document["runs"]}
    pasted = [(job, step.get("name") or step["run"][:40]) for job, body in jobs.items()
              for step in body.get("steps", []) if "${{" in step.get("run", "")]
    assert pasted == []
