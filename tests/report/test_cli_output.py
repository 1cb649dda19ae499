"""What the CLI shows a person: --version, help without type placeholders, one-line usage errors, the terminal
report's layout choice and verdict, --format markdown, the --write-baseline confirmation, `kguard rules` at 80
columns."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import scanner
from scanner.cli import app
from tests.engine.conftest import constraint, template
from tests.test_cli import BAD_POD, GOOD_POD, PRIVILEGED

runner = CliRunner()
COMMANDS = (["scan"], ["precommit-kustomize"], ["audit"], ["rules"], ["verify"], ["gatekeeper", "build"], [])


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PRE_COMMIT", raising=False)
    (tmp_path / ".git").mkdir()
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "t.yaml").write_text(template("K8sPriv", PRIVILEGED) + "---\n"
                                                   + constraint("K8sPriv", "p"))
    (tmp_path / "bad.yaml").write_text(BAD_POD)
    (tmp_path / "good.yaml").write_text(GOOD_POD)
    return tmp_path


def kguard(*args: str, env: dict[str, str] | None = None):  # -> click Result
    return runner.invoke(app, ["scan", "--templates", "templates", "--no-default-policies", *args], env=env)


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"kguard {scanner.__version__}\n"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "kguard")
def test_help_has_no_type_placeholders(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert not re.search(r"<[a-z]|list\[|<bool>|<str>|<int>|<float>|<path>", result.stdout), result.stdout
    assert "╭" not in result.stdout and max(len(line) for line in result.stdout.splitlines()) <= 80


def test_help_names_values() -> None:
    text = runner.invoke(app, ["scan", "--help"], env={"COLUMNS": "120"}).stdout
    assert text.startswith("Usage: kguard scan [OPTIONS] [PATHS]...\n")
    assert runner.invoke(app, ["verify", "--help"]).stdout.startswith("Usage: kguard verify [OPTIONS] PATHS...\n")
    for shown in ("--select RULE", "--policy-dir DIR", "--workers N", "--policy-timeout SECONDS",
                  "--fail-on [critical|high|medium|low|none]", "--layout [auto|full|compact]", "-q, --quiet  "):
        assert shown in text, shown


@pytest.mark.parametrize(("args", "message"), [
    (["scan", "--fail-on", "bogus", "x.yaml"], "Invalid value for '--fail-on'"),
    (["scan", "--no-such-option"], "No such option: --no-such-option"),
    (["scan", "--workers"], "Option '--workers' requires an argument"),
    (["no-such-command"], "No such command 'no-such-command'"),
    (["audit", "--page-size", "0"], "Invalid value for '--page-size'"),
])
def test_usage_errors_are_one_line(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("kguard: error: ") and message in lines[0], lines[0]


def test_usage_error_from_the_console_script() -> None:
    """The installed entry point (`main`) too: one line, exit 2, no box, no traceback."""
    done = subprocess.run([sys.executable, "-c", "from scanner.cli import main; main()", "scan", "--fail-on", "x"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("kguard: error: Invalid value for '--fail-on'")


def test_pipe_gets_the_compact_report_ending_in_the_verdict(files: Path) -> None:
    result = kguard("bad.yaml")  # CliRunner's stdout is not a terminal
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[-1] == "blocked: 1 finding >= high"
    assert "field:" not in result.stdout and "Inputs" not in result.stdout
    assert "1 file scanned, 1 resource" in result.stdout
    full = kguard("bad.yaml", "--layout", "full")
    assert "field: spec.containers[0].securityContext.privileged" in full.stdout
    assert full.stdout.splitlines()[-1] == "blocked: 1 finding >= high"
    assert len(lines) < len(full.stdout.splitlines())
    assert all(line == line.rstrip() for line in lines)


def test_passed_verdict(files: Path) -> None:
    result = kguard("good.yaml")
    assert result.exit_code == 0 and result.stdout.splitlines()[-1] == "passed: no finding >= high"
    lowered = kguard("bad.yaml", "--fail-on", "none")
    assert lowered.exit_code == 0 and lowered.stdout.splitlines()[-1].startswith("passed (--fail-on none")


def test_pre_commit_gets_compact_even_on_a_wide_terminal(files: Path) -> None:
    result = kguard("bad.yaml", env={"PRE_COMMIT": "1", "COLUMNS": "200"})
    assert "field:" not in result.stdout and result.stdout.splitlines()[-1] == "blocked: 1 finding >= high"


def test_markdown_format(files: Path) -> None:
    result = kguard("bad.yaml", "--format", "markdown", env={"GITHUB_SERVER_URL": "https://github.com",
                                                             "GITHUB_REPOSITORY": "acme/shop",
                                                             "GITHUB_SHA": "0123456789abcdef0123"})
    assert result.exit_code == 1
    assert result.stdout.startswith("## kguard: blocked: 1 finding >= high\n")
    assert "(https://github.com/acme/shop/blob/0123456789abcdef0123/bad.yaml#L8)" in result.stdout


def test_write_baseline_confirms_on_stderr(files: Path) -> None:
    result = kguard("bad.yaml", "--write-baseline", "baseline.json")
    assert result.exit_code == 0
    assert "kguard: baseline written: baseline.json (1 finding(s) recorded; --baseline baseline.json suppresses " \
           "them)" in result.stderr
    assert len(json.loads((files / "baseline.json").read_text())["findings"]) == 1
    assert result.stdout.splitlines()[-1] == "passed: no finding >= high"
    assert "Suppressed: 1 (1 baseline)" in result.stdout


def test_show_suppressed(files: Path) -> None:
    kguard("bad.yaml", "--write-baseline", "baseline.json")
    hidden = kguard("bad.yaml", "--baseline", "baseline.json")
    shown = kguard("bad.yaml", "--baseline", "baseline.json", "--show-suppressed")
    assert "Suppressed (baseline)" not in hidden.stdout and "Suppressed (baseline)" in shown.stdout


def test_rules_reads_at_80_columns() -> None:
    result = runner.invoke(app, ["rules"], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert len(lines) < 150  # was 452 with a 2-character title column
    row = next(line for line in lines if line.startswith("pss-privileged "))
    assert "critical" in row and "Privileged containers" in row
    ids = json.loads(runner.invoke(app, ["rules", "--format", "json"]).stdout)
    for rule in ids:  # every id whole on its line
        assert any(line.startswith(rule["id"] + " ") for line in lines), rule["id"]


def _in_terminal(args: list[str], columns: int, cwd: Path) -> str:
    """Run the installed `kguard` on a real pseudo-terminal ``columns`` wide; its output without colour codes."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "PRE_COMMIT", "NO_COLOR", "CI")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen([str(Path(sys.executable).parent / "kguard"), *args], cwd=cwd, env=env,
                            stdin=secondary, stdout=secondary, stderr=secondary, close_fds=True)
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(primary)
    text = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


@pytest.mark.parametrize(("columns", "full"), [(80, False), (120, True)])
def test_real_terminal_width_picks_the_layout(files: Path, columns: int, full: bool) -> None:
    out = _in_terminal(["scan", "--templates", "templates", "--no-default-policies", "bad.yaml"], columns, files)
    lines = out.rstrip("\n").splitlines()
    assert lines[-1].rstrip() == "blocked: 1 finding >= high"
    assert max(len(line.rstrip()) for line in lines) <= columns
    assert ("field: spec.containers[0].securityContext.privileged" in out) is full
    rules = _in_terminal(["rules"], columns, files).splitlines()
    assert max(len(line.rstrip()) for line in rules) <= columns
    assert any(line.startswith("pss-privileged ") and "Privileged containers" in line for line in rules)
