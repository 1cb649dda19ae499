"""The pull-request job of .github/workflows/kguard.yml runs `kguard diff` against the PR's base commit: its steps
run for real on a scratch repository (the diff step records the exit code, the summary is the Markdown report, the
last step fails by the code). actionlint and the workflow schema are checked by tests/test_workflows.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.diff.scratch import FILES, PRIVILEGED_PATCH, commit, make_repo
from tests.test_workflows import REPO, _bash, _load, _step

pytestmark = pytest.mark.integration


def test_diff_job_runs_on_pull_requests_only() -> None:
    job = _load(REPO / ".github" / "workflows" / "kguard.yml")["jobs"]["diff"]
    assert job["if"] == "github.event_name == 'pull_request'"
    assert job["permissions"] == {"contents": "read"}
    names = [s.get("name") for s in job["steps"]]
    # the PR's own .kguard.yaml is put back to the base branch's before the diff reads the working tree
    assert names.index("Use the base branch's .kguard.yaml") < names.index("Diff against the base commit")
    assert names[-1] == "Fail by kguard's exit code"


def test_diff_job_steps_run_for_real(tmp_path: Path) -> None:
    document = _load(REPO / ".github" / "workflows" / "kguard.yml")
    root = tmp_path / "repo"
    base = make_repo(root)
    commit(root, {"apps/overlays/staging/privileged.yaml": PRIVILEGED_PATCH,
                  "apps/overlays/staging/kustomization.yaml": FILES["apps/overlays/staging/kustomization.yaml"]
                  + "patches:\n  - path: privileged.yaml\n"}, "privileged")
    output = tmp_path / "github-output"
    output.touch()
    done = _bash(_step(document, "diff", "Diff against the base commit")["run"], root,
                 {"BASE_SHA": base, "FAIL_ON": "high", "GITHUB_OUTPUT": str(output)})
    assert done.returncode == 0, done.stderr  # the diff step never fails: the last step does
    assert output.read_text().strip() == "exit-code=1"
    assert "apps/overlays/staging/privileged.yaml:11" in done.stdout  # the text report in the job log
    summary = tmp_path / "summary.md"
    done = _bash(_step(document, "diff", "Job summary")["run"], root, {"GITHUB_STEP_SUMMARY": str(summary)})
    assert done.returncode == 0, done.stderr
    text = summary.read_text()
    assert text.startswith("## kguard diff: FAIL") and "privileged.yaml#L11" in text
    assert {p.name for p in (root / "reports").iterdir()} == {"kguard-diff.json", "kguard-diff.sarif",
                                                               "kguard-diff.md", "kguard-diff.txt", "kguard-diff.html"}
    final = _step(document, "diff", "Fail by kguard's exit code")["run"]
    assert _bash(final, root, {"CODE": "1"}).returncode == 1
    assert _bash(final, root, {"CODE": "0"}).returncode == 0
    assert _bash(final, root, {"CODE": ""}).returncode == 2
