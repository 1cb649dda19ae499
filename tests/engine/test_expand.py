import pytest

from scanner.engine.expand import implied_pods, parse_spec
from scanner.errors import UsageError
from scanner.load.files import load_text
from scanner.scan import ScanOptions, scan_resources

WORKFLOW = """\
apiVersion: example.com/v1
kind: Workflow
metadata:
  name: nightly
  namespace: jobs
spec:
  steps:
  - name: build
    podTemplate:
      metadata:
        labels: {app: build}
      spec:
        containers:
        - name: builder
          image: registry.example.com/builder:1.0
          securityContext:
            privileged: true
"""


def test_parse_spec():
    spec = parse_spec("Workflow.example.com={.spec.steps[0].podTemplate}")
    assert (spec.kind, spec.group, spec.path) == ("Workflow", "example.com", ("spec", "steps", 0, "podTemplate"))
    assert parse_spec("Rollout=spec.template").group is None
    with pytest.raises(UsageError):
        parse_spec("Rollout")


def test_implied_pod_keeps_parent_identity_and_lines():
    loaded = load_text(WORKFLOW, "wf.yaml")
    (pod,) = implied_pods(loaded.resources, [parse_spec("Workflow=spec.steps[0].podTemplate")])
    assert pod.obj["kind"] == "Pod" and pod.obj["metadata"]["namespace"] == "jobs"
    assert pod.obj["metadata"]["labels"] == {"app": "build"}
    _, position = pod.locate(("spec", "containers", 0, "securityContext", "privileged"))
    assert position.line == 17
    assert implied_pods(loaded.resources, [parse_spec("Workflow.other.io=spec.steps[0].podTemplate")]) == []


def test_custom_workload_is_checked_by_pod_policies_at_the_right_line():
    loaded = load_text(WORKFLOW, "wf.yaml")
    options = ScanOptions(pod_template_paths=["Workflow=spec.steps[0].podTemplate"], select=["pss-privileged"])
    (finding,) = scan_resources(loaded.resources, options).findings
    assert finding.resource.kind == "Workflow" and finding.resource.name == "nightly"
    assert finding.location.line == 17
    assert finding.field_path == ("spec", "steps", 0, "podTemplate", "spec", "containers", 0, "securityContext",
                                  "privileged")
    assert finding.message.startswith("[Implied by expand-workflow] ")
    without = scan_resources(load_text(WORKFLOW, "wf.yaml").resources, ScanOptions(select=["pss-privileged"]))
    assert without.findings == []


def test_pod_template_paths_come_from_the_repository_config(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from scanner.cli import app

    (tmp_path / ".git").mkdir()
    (tmp_path / "wf.yaml").write_text(WORKFLOW)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, ["scan", "wf.yaml", "--select", "pss-privileged", "-q"]).exit_code == 0
    (tmp_path / ".kguard.yaml").write_text("podTemplatePaths:\n  - Workflow=spec.steps[0].podTemplate\n")
    result = runner.invoke(app, ["scan", "wf.yaml", "--select", "pss-privileged", "-q"])
    assert result.exit_code == 1 and result.stdout.startswith("wf.yaml:17:")
    (tmp_path / ".kguard.yaml").write_text("podTemplatePath: [x]\n")
    result = runner.invoke(app, ["scan", "wf.yaml", "-q"])
    assert result.exit_code == 2 and "unknown setting `podTemplatePath`" in result.stderr
