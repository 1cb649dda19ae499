"""Attacks on kguard's loader by whoever writes the scanned files (in CI: the pull-request author).

Each test uses the attack as its fixture and runs the real CLI (`.venv/bin/kguard`, or typer's runner where a limit
must be lowered to keep the test quick) over it together with a canary: a privileged Pod in another file or another
document of the same file. The canary must still be found (pss-privileged), the attack must be reported as one line
``kguard: error: <file>:<line>: ...`` with exit code 2 where Kubernetes would refuse the input too, and nothing may
print a traceback, crash or hang.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scanner.cli import app
from scanner.load import yaml_source

KGUARD = Path(sys.executable).with_name("kguard")
CANARY = """\
apiVersion: v1
kind: Pod
metadata:
  name: canary
spec:
  containers:
  - name: c
    image: nginx
    securityContext:
      privileged: true
"""
CANARY_LINE = 10  # of `privileged: true` when the canary is a file of its own
SCAN = ["scan", "-q", "--format", "json", "--select", "pss-privileged", "--no-analyses"]


@dataclass
class Outcome:
    exit_code: int
    report: dict
    stderr: str
    seconds: float

    def canary_found(self, path: str = "canary.yaml", line: int = CANARY_LINE) -> bool:
        return any(f["rule_id"] == "pss-privileged" and f["resource"]["name"] == "canary"
                   and f["location"]["path"] == path and f["location"]["line"] == line
                   for f in self.report["findings"])

    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("kguard: error:")]


@pytest.fixture
def repo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".git").mkdir()
    (tmp_path / "canary.yaml").write_text(CANARY)
    return tmp_path


def run_cli(*paths: str, timeout: float = 120) -> Outcome:
    """The installed console script, as CI runs it."""
    started = time.monotonic()
    done = subprocess.run([str(KGUARD), *SCAN, *paths], capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, "KGUARD_DEBUG": ""})
    return Outcome(done.returncode, json.loads(done.stdout), done.stderr, time.monotonic() - started)


def run_in_process(*paths: str) -> Outcome:
    started = time.monotonic()
    result = CliRunner().invoke(app, [*SCAN, *paths])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return Outcome(result.exit_code, json.loads(result.stdout), result.stderr, time.monotonic() - started)


def assert_clean_failure(outcome: Outcome, *expected: str) -> None:
    """Exit 2, exactly the expected one-line errors (prefixes), no traceback or internal error."""
    assert outcome.exit_code == 2, outcome.stderr
    assert "Traceback" not in outcome.stderr and "internal error" not in outcome.stderr
    lines = outcome.error_lines()
    assert len(lines) == len(expected), lines
    for line, prefix in zip(lines, expected, strict=True):
        assert line.startswith(f"kguard: error: {prefix}"), line


def attack(repo: Path, text: str, name: str = "attack.yaml") -> str:
    (repo / name).write_text(text)
    return name


# --- one bad document in a file (issue 10): the canary is the next document of the same file ----------------------

@pytest.mark.parametrize(("bad", "error_line", "message"), [
    ("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  token: {{HF_TOKEN}}\n", 5, "invalid map key"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: tabbed\n", 4, "invalid YAML"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n? [a, b]\n: unhashable\n", 4, "invalid map key"),
])
def test_a_bad_document_does_not_hide_the_next_one(repo, bad, error_line, message):
    name = attack(repo, bad + "---\n" + CANARY)
    outcome = run_cli(name)
    assert outcome.canary_found(name, line=bad.count("\n") + 1 + CANARY_LINE)
    assert_clean_failure(outcome, f"{name}:{error_line}: {message}")


# --- input that used to abort the whole run (issue 11 item 10) ------------------------------------------------------

@pytest.mark.parametrize(("document", "message"), [
    ("value: !!int " + "9" * 5000, "cannot decode !!str"),
    ("value: !!binary abc", "!!binary value contains invalid base64 data"),
    ("value: !!int ''", "cannot decode !!null"),
    ("value: .nan", ".nan is not a JSON number"),
    ("value: .inf", ".inf is not a JSON number"),
    ("metadata: [a]", "metadata must be a mapping"),
    ("metadata: {labels: [a]}", "metadata.labels must be a mapping"),
    ("metadata: {name: [x]}", "metadata.name must be a string"),
])
def test_a_malformed_value_is_an_error_for_its_document_only(repo, document, message):
    name = attack(repo, f"apiVersion: v1\nkind: ConfigMap\n{document}\n---\n" + CANARY)
    outcome = run_cli(name, "canary.yaml")
    assert outcome.canary_found(name, line=4 + CANARY_LINE) and outcome.canary_found()
    assert_clean_failure(outcome, f"{name}:3: {message}")


@pytest.mark.parametrize(("head", "line", "message"), [
    ("apiVersion: v1\nkind: [x]", 2, "kind must be a string"),
    ("apiVersion: 5\nkind: Pod", 1, "apiVersion must be a string"),
])
def test_a_malformed_identity_is_an_error_and_kept_out_of_the_scan(repo, head, line, message):
    name = attack(repo, f"{head}\nmetadata: {{name: confused}}\nspec: {{containers: [{{name: c}}]}}\n")
    outcome = run_cli(name, "canary.yaml")
    assert outcome.canary_found()
    assert outcome.report["scan"]["resources"] == 1
    assert_clean_failure(outcome, f"{name}:{line}: {message}")


def test_values_kubernetes_keeps_as_text_are_scanned_as_text(repo):
    """A 5,000-digit number, 1e+400, !!set and unknown tags: go-yaml v2 makes them strings, so does kguard."""
    name = attack(repo, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: odd}\ndata:\n  big: " + "1" * 5000
                  + "\n  huge: 1e+400\n  set: !!set foo\n  tag: !foo bar\n")
    outcome = run_cli(name, "canary.yaml")
    assert outcome.exit_code == 1, outcome.stderr
    assert outcome.canary_found() and outcome.error_lines() == []
    assert outcome.report["scan"]["resources"] == 2


# --- resource exhaustion (issue 11 item 11) --------------------------------------------------------------------------

def _alias_bomb_document() -> str:
    """About 235,000 nodes from a ten-element list through aliases: just under the per-document limit."""
    lines = ["a: &a [1,1,1,1,1,1,1,1,1,1]"]
    lines += [f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 10) + "]" for prev, cur in zip("abcd", "bcde", strict=True)]
    return "\n".join([*lines, "f: [*e]", ""])


def test_two_hundred_alias_bombs_are_refused_quickly(repo):
    name = attack(repo, "---\n".join([_alias_bomb_document()] * 200))
    assert (repo / name).stat().st_size < 100_000
    outcome = run_cli(name, "canary.yaml", timeout=60)
    assert outcome.canary_found()
    assert_clean_failure(outcome, *[f"{name}:{1 + 7 * i}: document contains excessive aliasing" for i in range(200)])


def _dilute_bomb_document(real: int = 30) -> str:
    """About 1,270 nodes, 1 in 8 real: go-yaml's aliasing ratio lets it through, only the node budgets stop it."""
    return (f"real: [{','.join(['1'] * real)}]\na: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [{','.join(['*a'] * 10)}]\n"
            f"c: [{','.join(['*b'] * 10)}]\n")


def test_the_file_budget_stops_a_file_not_the_run(repo, monkeypatch):
    monkeypatch.setattr(yaml_source, "MAX_NODES_PER_FILE", 5_000)
    name = attack(repo, "---\n".join([_dilute_bomb_document()] * 50) + "---\n" + CANARY)
    outcome = run_in_process(name, "canary.yaml")
    assert outcome.canary_found()
    (line,) = outcome.error_lines()
    assert line.startswith(f"kguard: error: {name}:") and "file expands to more than 5,000 nodes" in line
    assert outcome.exit_code == 2


def test_the_run_budget_stops_the_run_with_one_error_per_file(repo, monkeypatch):
    monkeypatch.setattr(yaml_source, "MAX_NODES_PER_RUN", 5_000)
    names = [attack(repo, _dilute_bomb_document(), f"bomb-{i}.yaml") for i in range(5)]
    outcome = run_in_process("canary.yaml", *names)  # what was read before the budget ran out is still scanned
    assert outcome.canary_found()
    lines = outcome.error_lines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("kguard: error: bomb-3.yaml:") and "5,000 nodes in this run" in lines[0]
    assert lines[1] == "kguard: error: bomb-4.yaml: not read: the input expands to more than 5,000 nodes in this run"
    assert outcome.exit_code == 2


def test_a_symlink_to_dev_zero_is_skipped_unread(repo):
    (repo / "zero.yaml").symlink_to("/dev/zero")
    outcome = run_cli("zero.yaml", "canary.yaml", timeout=30)
    assert outcome.canary_found() and outcome.exit_code == 1
    assert [(s["path"], s["reason"]) for s in outcome.report["scan"]["skipped"]] == [
        ("zero.yaml", "a character device, not read")]


def test_a_named_pipe_does_not_hang_the_scan(repo):
    os.mkfifo(repo / "x.yaml")
    outcome = run_cli(".", timeout=30)
    assert outcome.canary_found() and outcome.exit_code == 1
    assert ("x.yaml", "a named pipe, not read") in [(s["path"], s["reason"]) for s in outcome.report["scan"]["skipped"]]


def test_a_huge_file_is_refused_without_being_read(repo):
    with (repo / "huge.yaml").open("wb") as handle:
        handle.truncate(64 * 1024 * 1024 * 1024)  # sparse: 64 GiB
    outcome = run_cli("huge.yaml", "canary.yaml", timeout=30)
    assert outcome.canary_found()
    assert_clean_failure(outcome, "huge.yaml: file larger than 32 MiB")


def test_symlinked_directories_neither_loop_nor_escape(repo, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.yaml").write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: outside}\n")
    (repo / "loop").symlink_to(repo)
    (repo / "escape").symlink_to(outside)
    (repo / "leak.yaml").symlink_to(outside / "secret.yaml")
    (repo / ".git" / "config.yaml").write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: git}\n")
    (repo / "git.yaml").symlink_to(".git/config.yaml")
    outcome = run_cli(".", timeout=60)
    assert outcome.canary_found() and outcome.exit_code == 1
    assert outcome.report["scan"]["resources"] == 1
    assert sorted((s["path"], s["reason"]) for s in outcome.report["scan"]["skipped"]) == [
        ("escape", "symbolic link to a directory, not followed"),
        ("git.yaml", "symbolic link into .git/ (repository metadata and credentials), not read"),
        ("leak.yaml", "symbolic link pointing outside the repository, not read"),
        ("loop", "symbolic link to a directory, not followed"),
    ]


def test_a_symlink_loop_is_an_error_not_a_crash(repo):
    (repo / "a.yaml").symlink_to("b.yaml")
    (repo / "b.yaml").symlink_to("a.yaml")
    outcome = run_cli(".", timeout=60)
    assert outcome.canary_found()
    assert_clean_failure(outcome, "a.yaml: cannot read: symbolic link loop", "b.yaml: cannot read: symbolic link loop")


def test_a_file_name_that_is_not_utf8_is_scanned_not_a_crash(repo):
    """Reports are UTF-8: such a name is shown with U+FFFD, and the file's objects are still judged."""
    with open(os.path.join(os.fsencode(repo), b"\xff-pod.yaml"), "w") as handle:
        handle.write(CANARY)
    outcome = run_cli(".", timeout=60)
    assert outcome.exit_code == 1, outcome.stderr
    assert outcome.canary_found() and outcome.canary_found(path="\ufffd-pod.yaml")
