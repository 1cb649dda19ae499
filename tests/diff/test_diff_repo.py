"""`kguard diff` end to end on a scratch git repository with real commits, real `kubectl kustomize` and the real
policies: each kind of pull request is reported at the right file and line, and only what it introduces blocks."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from scanner.cli import app
from tests.diff.scratch import (
    CROSS_NAMESPACE_POLICY,
    ESCALATING_BINDING,
    FILES,
    PRIVILEGED_PATCH,
    commit,
    line_of,
    make_repo,
)

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "docs" / "json-schema" / "kguard-diff-1.0.json"
STAGING_KUSTOMIZATION = FILES["apps/overlays/staging/kustomization.yaml"] + "patches:\n  - path: privileged.yaml\n"
NETPOL = FILES["cluster/netpol.yaml"] + CROSS_NAMESPACE_POLICY
RBAC = FILES["cluster/rbac.yaml"] + ESCALATING_BINDING

pytestmark = pytest.mark.integration


class Commits:
    """The scratch repository and its commits, one pull request each."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.initial = make_repo(root)
        self.privileged = commit(root, {"apps/overlays/staging/privileged.yaml": PRIVILEGED_PATCH,
                                        "apps/overlays/staging/kustomization.yaml": STAGING_KUSTOMIZATION},
                                 "staging: privileged patch")
        self.network = commit(root, {"cluster/netpol.yaml": NETPOL}, "ledger admits the staging load test")
        self.binding = commit(root, {"cluster/rbac.yaml": RBAC}, "deployer may impersonate")
        workloads = FILES["cluster/workloads.yaml"].split("---\n")
        self.moved = commit(root, {
            "cluster/workloads.yaml": "# load test first\n\n" + "---\n".join(reversed(workloads)),
            "cluster/rbac.yaml": "# service accounts and roles\n# (reviewed)\n" + RBAC,
            "apps/overlays/staging/privileged.yaml": "# debugging only\n\n" + PRIVILEGED_PATCH,
        }, "comments and order only")
        self.fixed = commit(root, {"apps/overlays/staging/kustomization.yaml":
                                   FILES["apps/overlays/staging/kustomization.yaml"]},
                            "staging: drop the privileged patch", remove=("apps/overlays/staging/privileged.yaml",))
        self.docs = commit(root, {"README.md": "# shop\n", "apps/base/NOTES.txt": "reviewed\n"}, "docs only")
        self.config_comment = commit(root, {".kguard.yaml": "# settings: none yet\n"}, "a .kguard.yaml comment")
        self.config_setting = commit(root, {".kguard.yaml": "failOn: critical\n"}, "a .kguard.yaml setting")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Commits:
    return Commits(tmp_path_factory.mktemp("diff") / "repo")


@pytest.fixture
def inside(repo: Commits) -> Iterator[Path]:
    before = Path.cwd()
    os.chdir(repo.root)
    try:
        yield repo.root
    finally:
        os.chdir(before)


def diff(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["diff", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout


def diff_json(base: str, head: str | None, *extra: str) -> tuple[int, dict[str, Any]]:
    code, out = diff(base, *([head] if head else []), "-f", "json", *extra)
    data = json.loads(out)
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(data)
    assert data["exit_code"] == code
    return code, data


def unit(data: dict[str, Any], key: str) -> dict[str, Any]:
    return next(u for u in data["units"] if u["unit"] == key)


def states(data: dict[str, Any], state: str) -> list[dict[str, Any]]:
    return [f for u in data["units"] for f in u["findings"] if f["state"] == state]


def deltas(data: dict[str, Any], aspect: str) -> list[dict[str, Any]]:
    return [d for u in data["units"] for d in u["deltas"] if d["aspect"] == aspect]


def test_privileged_patch_in_one_overlay(repo: Commits, inside: Path) -> None:
    code, data = diff_json(repo.initial, repo.privileged)
    assert code == 1
    new = states(data, "new")
    assert [(f["rule_id"], f["location"]["path"], f["location"]["line"]) for f in new] == [
        ("pss-privileged", "apps/overlays/staging/privileged.yaml", line_of(PRIVILEGED_PATCH, "privileged: true"))]
    assert new[0]["blocking"] and new[0]["resource"]["namespace"] == "shop-staging"
    production = unit(data, "kguard/apps/overlays/production")
    assert production["reused"] and production["counts"]["new"] == 0  # the other overlay's inputs did not change
    assert unit(data, "kguard/cluster")["reused"]
    moved = deltas(data, "workload-level")
    assert [(d["key"], d["before"]["value"], d["after"]["value"]) for d in moved] == [
        ("Deployment shop-staging/orders", "restricted", "privileged")]
    assert moved[0]["after"]["location"]["path"] == "apps/overlays/staging/privileged.yaml"
    # existing debt is listed, never blocking
    assert states(data, "unchanged") and not any(f["blocking"] for f in states(data, "unchanged"))


def test_cross_namespace_path(repo: Commits, inside: Path) -> None:
    code, data = diff_json(repo.privileged, repo.network)
    assert code == 1
    opened = deltas(data, "network")
    assert [(d["change"], d["key"]) for d in opened] == [
        ("added", "Deployment loadtest-staging/loadgen -> Deployment payments-production/ledger")]
    after = opened[0]["after"]
    assert after["value"] == "TCP/8080" and after["cross_environment"] and opened[0]["blocking"]
    assert after["location"]["path"] == "cluster/netpol.yaml"
    assert after["location"]["line"] == line_of(NETPOL, "- namespaceSelector:", after="ledger-from-loadtest")
    assert "NetworkPolicy payments-production/ledger-from-loadtest" in after["why"]
    assert {f["rule_id"] for f in states(data, "new")} == {"seg-cross-environment",
                                                            "seg-reachability-cross-environment"}
    assert unit(data, "kguard/apps/overlays/staging")["reused"]


def test_binding_to_escalating_role(repo: Commits, inside: Path) -> None:
    code, data = diff_json(repo.network, repo.binding)
    assert code == 1
    subject_line = line_of(RBAC, "- kind: ServiceAccount", after="deployer-impersonates")
    paths = deltas(data, "escalation")
    assert [(d["change"], d["key"]) for d in paths] == [
        ("added", "ServiceAccount payments-production/deployer can impersonate "
                  "ServiceAccount payments-production/ledger")]
    assert paths[0]["blocking"] and "secrets" in paths[0]["after"]["value"]
    assert (paths[0]["after"]["location"]["path"], paths[0]["after"]["location"]["line"]) == (
        "cluster/rbac.yaml", subject_line)
    gained = deltas(data, "permission")
    assert [d["key"] for d in gained] == [
        "ServiceAccount payments-production/deployer: impersonate serviceaccounts cluster-wide"]
    assert gained[0]["after"]["location"]["line"] == subject_line
    assert "ClusterRoleBinding deployer-impersonates -> ClusterRole impersonator" in gained[0]["after"]["why"]
    escalation = [f for f in states(data, "new") if f["rule_id"] == "rbac-escalation-bind-escalate-impersonate"]
    assert [(f["location"]["path"], f["location"]["line"]) for f in escalation] == [("cluster/rbac.yaml",
                                                                                     subject_line)]


def test_moved_lines_are_not_new(repo: Commits, inside: Path) -> None:
    code, data = diff_json(repo.binding, repo.moved)
    assert code == 0
    assert states(data, "new") == [] and states(data, "absent") == [] and states(data, "updated") == []
    assert data["blocking"] == {"findings": 0, "deltas": 0}
    assert all(u["deltas"] == [] for u in data["units"])
    # the findings did move: they are reported at their new lines
    privileged = [f for f in states(data, "unchanged") if f["rule_id"] == "pss-privileged"]
    assert [f["location"]["line"] for f in privileged] == [line_of(PRIVILEGED_PATCH, "privileged: true") + 2]
    assert not unit(data, "kguard/cluster")["reused"]  # really rescanned, not taken over


def test_fix_is_shown_as_fixed(repo: Commits, inside: Path) -> None:
    code, data = diff_json(repo.moved, repo.fixed)
    assert code == 0
    fixed = states(data, "absent")
    assert [(f["rule_id"], f["location"]["path"], f["location"]["line"]) for f in fixed] == [
        ("pss-privileged", "apps/overlays/staging/privileged.yaml", line_of(PRIVILEGED_PATCH, "privileged: true") + 2)]
    assert states(data, "new") == []
    moved = deltas(data, "workload-level")
    assert [(d["key"], d["before"]["value"], d["after"]["value"]) for d in moved] == [
        ("Deployment shop-staging/orders", "privileged", "restricted")]


def test_change_outside_the_inputs_scans_once(repo: Commits, inside: Path) -> None:
    code, data = diff_json(repo.fixed, repo.docs)
    assert code == 0 and all(u["reused"] for u in data["units"])
    assert states(data, "unchanged") and not [f for f in data["units"] if f["deltas"]]
    assert [s for s in ("new", "absent", "updated") if states(data, s)] == []


def test_configuration_edit_rescans_only_when_a_setting_changes(repo: Commits, inside: Path) -> None:
    # a comment changes no setting: the overlays are taken over (the file itself is an input of the files unit)
    units = diff_json(repo.docs, repo.config_comment)[1]["units"]
    assert [u["unit"] for u in units if not u["reused"]] == ["kguard"]
    code, data = diff_json(repo.config_comment, repo.config_setting)
    assert code == 0 and not any(u["reused"] for u in data["units"])
    assert [s for s in ("new", "absent", "updated") if states(data, s)] == []


def test_fail_on_new_threshold_and_existing_debt(repo: Commits, inside: Path) -> None:
    # pss-privileged is critical: --fail-on-new critical still fails, none never does
    assert diff(repo.initial, repo.privileged, "--fail-on-new", "critical", "-f", "json")[0] == 1
    assert diff(repo.initial, repo.privileged, "--fail-on-new", "none", "-f", "json")[0] == 0
    # the head is full of existing findings, but a change that introduces none passes
    assert diff(repo.binding, repo.moved, "--fail-on-new", "low", "-f", "json")[0] == 0


def test_working_tree_is_the_default_head(repo: Commits, inside: Path) -> None:
    patch = inside / "apps/overlays/production/privileged.yaml"
    kustomization = inside / "apps/overlays/production/kustomization.yaml"
    original = kustomization.read_text()
    patch.write_text(PRIVILEGED_PATCH)
    kustomization.write_text(original + "patches:\n  - path: privileged.yaml\n")
    try:
        code, data = diff_json(repo.fixed, None)
    finally:
        patch.unlink()
        kustomization.write_text(original)
    assert code == 1 and data["head"] == "working tree"
    assert [(f["location"]["path"], f["resource"]["namespace"]) for f in states(data, "new")] == [
        ("apps/overlays/production/privileged.yaml", "shop-production")]


def test_output_is_deterministic_and_other_formats(repo: Commits, inside: Path) -> None:
    for fmt in ("json", "sarif"):
        first = diff(repo.initial, repo.binding, "-f", fmt)
        assert first == diff(repo.initial, repo.binding, "-f", fmt)
    code, text = diff(repo.initial, repo.binding)
    assert code == 1
    assert "apps/overlays/staging/privileged.yaml:11" in text and text.rstrip().splitlines()[-1].startswith("FAIL")
    code, markdown = diff(repo.initial, repo.binding, "-f", "markdown")
    assert code == 1 and markdown.startswith("## kguard diff: FAIL")
    assert "### Blocking: introduced by this change" in markdown
    assert "(apps/overlays/staging/privileged.yaml#L11)" in markdown
    assert "loadtest-staging/loadgen -> Deployment payments-production/ledger" in markdown
    code, page = diff(repo.initial, repo.binding, "-f", "html")
    assert code == 1 and page.startswith("<!DOCTYPE html>") and "default-src 'none'" in page
    assert "<script" not in page and "src=" not in page and 'href="http' not in page  # nothing fetched
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert 'stroke="#1a7f37"' in svg  # the opened path and the new escalation path, drawn as added
    assert "Deployment loadtest&#45;staging/loadgen" in svg and "ServiceAccount payments&#45;production/deployer" in svg


def test_bad_revision_is_a_usage_error(repo: Commits, inside: Path) -> None:
    result = CliRunner().invoke(app, ["diff", "no-such-branch"])
    assert result.exit_code == 2
    assert "'no-such-branch' is not a commit" in result.stderr and "Traceback" not in result.stderr


def test_outside_a_repository(tmp_path: Path) -> None:
    before = Path.cwd()
    os.chdir(tmp_path)
    try:
        result = CliRunner().invoke(app, ["diff", "HEAD"])
    finally:
        os.chdir(before)
    assert result.exit_code == 2 and "not inside a git repository" in result.stderr


def test_git_ignored_files_belong_to_no_revision(tmp_path: Path) -> None:
    """Build output in the working tree (ignored by git) is not scanned as new; an untracked manifest is."""
    from tests.diff.scratch import deployment

    root = tmp_path / "repo"
    make_repo(root)
    commit(root, {".gitignore": "build/\n"}, "ignore build output")
    (root / "build").mkdir()
    (root / "build" / "copy.yaml").write_text(deployment("junk", "generated"))
    (root / "plain").mkdir()
    (root / "plain" / "extra.yaml").write_text(deployment("extra", "extras"))
    before = Path.cwd()
    os.chdir(root)
    try:
        code, data = diff_json("HEAD", None)
    finally:
        os.chdir(before)
    assert code == 0
    assert {f["location"]["path"] for f in states(data, "new")} == {"plain/extra.yaml"}


def test_broken_input_in_head_is_exit_2_naming_file_and_line(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    base = make_repo(root)
    head = commit(root, {"plain/broken.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n"},
                  "broken manifest")
    fixed = commit(root, {"plain/broken.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\n"},
                   "fixed manifest")
    before = Path.cwd()
    os.chdir(root)
    try:
        broken = CliRunner().invoke(app, ["diff", base, head])
        warned = CliRunner().invoke(app, ["diff", head, fixed])
    finally:
        os.chdir(before)
    assert broken.exit_code == 2 and "Traceback" not in broken.stderr
    errors = [line for line in broken.stderr.splitlines() if line.startswith("kguard: error: ")]
    assert len(errors) == 1 and re.match(r"kguard: error: plain/broken\.yaml:\d+: invalid YAML", errors[0])
    assert broken.stdout.rstrip().endswith("(exit 2)")
    # a base revision that did not load is a warning, not an error of the change
    assert warned.exit_code == 0
    assert "kguard: warning: base revision" in warned.stderr and "plain/broken.yaml" in warned.stderr


def test_a_revision_is_never_read_as_a_git_option(repo: Commits, inside: Path, tmp_path: Path) -> None:
    planted = tmp_path / "written-by-git"
    for args in (["--", f"--output={planted}"], [repo.initial, "--", f"--output={planted}"]):
        result = CliRunner().invoke(app, ["diff", *args])
        assert result.exit_code == 2, result.output
        assert f"'--output={planted}' is not a git revision" in result.stderr
    assert not planted.exists()


def test_worktrees_are_removed_afterwards(repo: Commits, inside: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from scanner.diff.git import TMPDIR_ENV

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv(TMPDIR_ENV, str(scratch))
    assert diff_json(repo.initial, repo.privileged)[0] == 1  # both revisions checked out
    assert list(scratch.iterdir()) == []
    listed = subprocess.run(["git", "-C", str(repo.root), "worktree", "list", "--porcelain"], capture_output=True,
                            text=True, check=True).stdout
    assert [line for line in listed.splitlines() if line.startswith("worktree ")] == [f"worktree {repo.root}"]
