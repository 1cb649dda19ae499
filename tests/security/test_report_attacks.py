"""Attacks on kguard's outputs by whoever controls the scanned repository (in CI: the pull-request author).

Each test sets up the attack as its fixture and runs the real CLI on it: symlinked report files and directories
(issue 11 item 6) and hostile control characters, workflow commands and fake error lines in object names, file
names, annotations and messages (item 7), in every output: Rich, --quiet, JSON, SARIF, kguard.txt, kguard.html
and stderr.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scanner.cli import app
from scanner.cluster.audit import Audit
from scanner.cluster.console import print_summary
from scanner.cluster.read import Snapshot
from scanner.model import Resource, ScanResult
from tests.engine.conftest import constraint, template

# One sample of every class of character that must never reach a terminal, log or page raw.
HOSTILE = {
    "ESC/OSC/CSI": "\x1b]0;owned\x07\x1b[2J\x1b[31m",
    "CR": "\r",
    "C1": "\x9b2J\x85\x90",
    "other C0 and DEL": "\x00\x01\x08\x0b\x0c\x7f",
    "line/paragraph separator": "\u2028\u2029",
    "bidi overrides and isolates": "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069",
    "newline": "\n",
    "tab": "\t",
}
ALL_CLASSES = "".join(HOSTILE.values())
# Any of them except the newline that ends a line.
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028-\u202e\u2066-\u2069]")
FORGED = "::error file=ci.yml,line=1::forged"  # no slash: it must fit in a file name too
FAKE_ERROR = "kguard: error: all clear, nothing to see"
# Long enough that Rich wraps the workflow command onto the start of a line (80 columns on stdout, 100 in files).
WRAPS_TO_LINE_START = "w" * 70 + " " + FORGED
VICTIM_KEY = b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIVictimsOwnKey victim@host\n"
ATTACKER_NAME = "x\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAttackerKey attacker@evil\n"

PRIVILEGED = """
package k8spriv
violation contains {"msg": msg, "details": {"field_path": ["spec", "containers", i, "securityContext", "privileged"]}} if {
  some i, c in input.review.object.spec.containers
  c.securityContext.privileged
  msg := sprintf("%v %v: container %v is privileged", [input.review.kind.kind, input.review.object.metadata.name, c.name])
}
"""
runner = CliRunner()


def pod(name: str, annotations: dict[str, str] | None = None) -> str:
    """A privileged Pod as JSON (valid YAML; every character escaped, so any name can be expressed)."""
    meta: dict[str, object] = {"name": name, "namespace": "shop"}
    if annotations:
        meta["annotations"] = annotations
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                       "spec": {"containers": [{"name": "c", "securityContext": {"privileged": True}}]}}) + "\n"


def kguard(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["scan", "--templates", "templates", "--no-default-policies", *args])
    assert "Traceback" not in result.stderr, result.stderr
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout with the test policy, as the working directory; the victim's files live outside it."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "templates").mkdir()
    (root / "templates" / "t.yaml").write_text(template("K8sPriv", PRIVILEGED) + "---\n" + constraint("K8sPriv", "p"))
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "authorized_keys").write_bytes(VICTIM_KEY)
    monkeypatch.chdir(root)
    return root


def victim_state(repo: Path) -> dict[str, bytes]:
    victim = repo.parent / "victim"
    return {p.name: p.read_bytes() for p in sorted(victim.iterdir())}


def assert_one_error_line(stderr: str, *needles: str) -> str:
    lines = stderr.splitlines()
    errors = [line for line in lines if line.startswith("kguard: error: ")]
    assert len(errors) == 1, stderr
    assert all(n in errors[0] for n in needles), errors[0]
    return errors[0]


# --- item 6: report files written through links ---------------------------------------------------------------

@pytest.fixture
def symlinked_report_file(repo: Path) -> Path:
    """reports/kguard.txt committed as a link to the victim's authorized_keys; a Pod name carrying a key."""
    (repo / "reports").mkdir()
    os.symlink("../../victim/authorized_keys", repo / "reports" / "kguard.txt")
    (repo / "pod.yaml").write_text(pod(ATTACKER_NAME))
    return repo


def test_symlinked_report_file_is_refused_and_nothing_is_written(symlinked_report_file: Path) -> None:
    repo = symlinked_report_file
    before = victim_state(repo)
    code, _, stderr = kguard("pod.yaml", "--report-dir", "reports")
    assert code == 2
    assert_one_error_line(stderr, "reports/kguard.txt", "symbolic link")
    assert victim_state(repo) == before
    assert os.readlink(repo / "reports" / "kguard.txt") == "../../victim/authorized_keys"
    assert sorted(os.listdir(repo / "reports")) == ["kguard.txt"]  # all or none: no other report, no temp file


@pytest.fixture
def symlinked_report_dir(repo: Path) -> Path:
    """reports/ itself committed as a link to the victim's directory."""
    os.symlink("../victim", repo / "reports")
    (repo / "pod.yaml").write_text(pod(ATTACKER_NAME))
    return repo


def test_symlinked_report_directory_is_refused(symlinked_report_dir: Path) -> None:
    repo = symlinked_report_dir
    before = victim_state(repo)
    code, _, stderr = kguard("pod.yaml", "--report-dir", "reports")
    assert code == 2
    assert_one_error_line(stderr, "reports", "is a symbolic link")
    assert victim_state(repo) == before


@pytest.mark.parametrize("option", ["--report-dir", "--output"])
def test_symlinked_directory_deeper_in_the_path_is_refused(symlinked_report_dir: Path, option: str) -> None:
    repo = symlinked_report_dir
    before = victim_state(repo)
    target = "reports/ci/kguard" if option == "--report-dir" else "reports/ci/kguard.json"
    code, _, stderr = kguard("pod.yaml", "--format", "json", option, target)
    assert code == 2
    assert_one_error_line(stderr, target, "reports is a symbolic link")
    assert victim_state(repo) == before


@pytest.fixture
def symlinked_output_file(repo: Path) -> Path:
    """--output target committed as a link to the victim's file."""
    (repo / "out").mkdir()
    os.symlink("../../victim/authorized_keys", repo / "out" / "kguard.json")
    (repo / "pod.yaml").write_text(pod(ATTACKER_NAME))
    return repo


def test_symlinked_output_file_is_refused(symlinked_output_file: Path) -> None:
    repo = symlinked_output_file
    before = victim_state(repo)
    code, stdout, stderr = kguard("pod.yaml", "--format", "json", "--output", "out/kguard.json")
    assert code == 2 and stdout == ""
    assert_one_error_line(stderr, "out/kguard.json", "symbolic link")
    assert victim_state(repo) == before


@pytest.fixture
def dangling_symlink(repo: Path) -> Path:
    """A report name linking to a file that does not exist yet: following it would create the victim's file."""
    (repo / "reports").mkdir()
    os.symlink("../../victim/planted", repo / "reports" / "kguard.sarif")
    (repo / "pod.yaml").write_text(pod("web"))
    return repo


def test_dangling_symlink_creates_nothing(dangling_symlink: Path) -> None:
    repo = dangling_symlink
    code, _, stderr = kguard("pod.yaml", "--report-dir", "reports")
    assert code == 2
    assert_one_error_line(stderr, "reports/kguard.sarif", "symbolic link")
    assert not (repo.parent / "victim" / "planted").exists()
    assert sorted(os.listdir(repo / "reports")) == ["kguard.sarif"]


@pytest.fixture
def hardlinked_report_file(repo: Path) -> Path:
    """reports/kguard.txt as a hard link to the victim's file (same inode): writing in place would change it."""
    (repo / "reports").mkdir()
    os.link(repo.parent / "victim" / "authorized_keys", repo / "reports" / "kguard.txt")
    (repo / "pod.yaml").write_text(pod(ATTACKER_NAME))
    return repo


def test_hardlinked_report_file_is_replaced_not_written_through(hardlinked_report_file: Path) -> None:
    repo = hardlinked_report_file
    before = victim_state(repo)
    code, _, _ = kguard("pod.yaml", "--report-dir", "reports")
    assert code == 1
    assert victim_state(repo) == before
    report = repo / "reports" / "kguard.txt"
    assert report.stat().st_ino != (repo.parent / "victim" / "authorized_keys").stat().st_ino
    assert "Pod shop/x\\nssh-ed25519 AAAA" in report.read_text()  # the report, its key escaped onto one line


def test_output_below_a_file_says_why(repo: Path) -> None:
    (repo / "pod.yaml").write_text(pod("web"))
    (repo / "ok.yaml").write_text("a: 1\n")
    code, _, stderr = kguard("pod.yaml", "--format", "json", "--output", "ok.yaml/x")
    assert code == 2
    line = assert_one_error_line(stderr)
    assert line == "kguard: error: ok.yaml/x: cannot write report: ok.yaml is a file, not a directory"
    assert (repo / "ok.yaml").read_text() == "a: 1\n"


# --- item 7: control characters, forged workflow commands, fake error lines -------------------------------------

@pytest.fixture
def hostile_names(repo: Path) -> Path:
    """Every class of control character in an object name, a file name, an annotation and (through the policy's
    sprintf) a message; an invalid YAML file and a non-Kubernetes YAML file with hostile names for stderr."""
    file_hostile = ALL_CLASSES.replace("\x00", "")  # the one character a file name cannot hold
    (repo / "manifests").mkdir()
    (repo / "manifests" / f"pod{file_hostile}{FORGED}.yaml").write_text(
        pod(f"web{ALL_CLASSES}{FAKE_ERROR}\n{FORGED}\n##[error]legacy forged"))
    (repo / "manifests" / "wrapped.yaml").write_text(pod(WRAPS_TO_LINE_START))
    (repo / f"{FORGED}.yaml").write_text(pod("db"))  # starts the --quiet line: `<path>:<line>:<col>: ...`
    # what an annotation line can hold: no line break of any kind (str.splitlines), no ';' (separates options)
    no_line_breaks = "\x1b]0owned\x07\x1b[2J\x1b[31m\x9b2J\x90\x00\x01\x08\x7f\t" + HOSTILE["bidi overrides and isolates"]
    (repo / "manifests" / "suppressed.yaml").write_text(pod("api", {
        "kguard.io/ignore": f"k8spriv: accepted{no_line_breaks}[bold red]markup[/]; owner=@team{no_line_breaks}",
    }))
    (repo / "manifests" / f"broken{file_hostile}.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: [\n")
    (repo / "manifests" / f"notes{file_hostile}.yaml").write_text("just: data\n")
    return repo


def all_outputs(repo: Path) -> dict[str, str]:
    """Every output kguard produces for the hostile checkout: stdout and stderr of each format, and the files."""
    outputs: dict[str, str] = {}
    for label, args in (("rich", ()), ("quiet", ("--quiet",)), ("json", ("--format", "json")),
                        ("sarif", ("--format", "sarif")), ("report-dir", ("--report-dir", "reports"))):
        code, stdout, stderr = kguard("manifests", f"{FORGED}.yaml", *args)
        assert code == 2, (label, stderr)  # the broken file is an input error; everything else is still scanned
        outputs[f"{label} stdout"] = stdout
        outputs[f"{label} stderr"] = stderr
    for path in sorted((repo / "reports").iterdir()):
        outputs[path.name] = path.read_text(encoding="utf-8")
    return outputs


def test_no_raw_control_character_in_any_output(hostile_names: Path) -> None:
    outputs = all_outputs(hostile_names)
    assert set(outputs) >= {"kguard.txt", "kguard.html", "kguard.json", "kguard.sarif", "quiet stderr"}
    for label, text in outputs.items():
        raw = RAW_CONTROL.search(text)
        assert raw is None, f"{label}: raw {raw.group()!r} in ...{text[max(raw.start() - 60, 0):raw.end() + 20]!r}"
    # the hostile texts are there, escaped visibly (not dropped) ...
    for label in ("rich stdout", "quiet stdout", "kguard.txt"):
        assert "web\\x1b]0;owned\\x07\\x1b[2J" in outputs[label], label
        assert "\\u202e" in outputs[label] and "\\x9b2J\\x85" in outputs[label], label
    assert "accepted\\x1b]0owned" in outputs["kguard.txt"]  # the annotation's justification
    assert "[bold red]markup[/]" in outputs["kguard.txt"]  # shown literally, not as Rich markup
    assert "\\x1b[31m" in outputs["quiet stderr"]  # the file names in the error and skipped lines
    # ... while the JSON keeps the exact data for programs
    names = {f["resource"]["name"] for f in json.loads(outputs["kguard.json"])["findings"]}
    assert f"web{ALL_CLASSES}{FAKE_ERROR}\n{FORGED}\n##[error]legacy forged" in names
    sarif_names = {r["locations"][0]["logicalLocations"][0]["name"]
                   for r in json.loads(outputs["kguard.sarif"])["runs"][0]["results"]}
    assert names == sarif_names


def test_no_line_forges_a_workflow_command(hostile_names: Path) -> None:
    outputs = all_outputs(hostile_names)
    guarded = 0
    for label, text in outputs.items():
        for line in text.split("\n"):
            stripped = line.lstrip()
            assert not stripped.startswith(("::", "##[")), f"{label}: {line!r}"
            guarded += stripped.startswith(("\\::", "\\##["))
    assert guarded >= 3  # the attack did land at line starts (wrapped name, file name) and was defused there
    wrapped = [line for line in outputs["rich stdout"].split("\n") if line.lstrip().startswith("\\::error")]
    assert wrapped, outputs["rich stdout"]


def test_no_fake_kguard_error_line(hostile_names: Path) -> None:
    outputs = all_outputs(hostile_names)
    for label, text in outputs.items():
        lines = text.splitlines()
        if label.endswith("stderr"):
            assert all(line.startswith("kguard: ") for line in lines), (label, lines)
            assert sum(line.startswith("kguard: error: ") for line in lines) == 1, (label, lines)  # broken.yaml
            assert not any(FAKE_ERROR in line.split(": ", 2)[-1][:len(FAKE_ERROR)] for line in lines)
        else:
            assert not any(line.startswith("kguard:") for line in lines), label
    assert any(line.startswith("kguard: skipped: manifests/notes") for line in outputs["quiet stderr"].splitlines())


def test_audit_console_escapes_cluster_names(capsys: pytest.CaptureFixture[str]) -> None:
    hostile = f"prod{ALL_CLASSES}[red]{FORGED}"
    gap = {"resource": "secrets", "namespace": hostile, "reason": f"forbidden{ALL_CLASSES}"}
    resource = Resource(obj={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "namespace": hostile}},
                        path="cluster/a", origin="cluster")
    audit = Audit(result=ScanResult(findings=[], coverage=[gap]),
                  snapshot=Snapshot(context=hostile, server=f"https://{hostile}", resources=[resource],
                                    coverage=[gap]))
    for quiet in (True, False):
        print_summary(audit, quiet)
        err = capsys.readouterr().err
        assert RAW_CONTROL.search(err) is None, err
        assert not any(line.lstrip().startswith("::") for line in err.split("\n")), err
        assert "\\x1b]0;owned" in err
        if not quiet:
            assert "[red]" in err  # markup in a context name is shown, not applied
