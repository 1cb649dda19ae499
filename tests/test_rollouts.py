"""Argo Rollouts are workloads: Pod Security applies to their pod templates, at the right lines (issue 7)."""

from pathlib import Path

import pytest

from scanner.load.files import load_paths
from scanner.scan import ScanOptions, scan_paths, scan_resources

FIXTURES = Path(__file__).parent / "fixtures" / "rollouts"


def findings(name: str, **options):
    return scan_paths([str(FIXTURES / name)], ScanOptions(**options)).findings


def test_canary_rollout_with_privileged_container_is_caught_at_its_line():
    (finding,) = [f for f in findings("canary-privileged.yaml") if f.rule_id == "pss-privileged"]
    assert finding.resource.kind == "Rollout" and finding.resource.name == "frontend"
    assert finding.location.path.endswith("tests/fixtures/rollouts/canary-privileged.yaml")
    assert finding.location.line == 30  # privileged: true
    assert finding.field_path == ("spec", "template", "spec", "containers", 0, "securityContext", "privileged")


def test_blue_green_rollout_with_host_path_is_caught_at_its_line():
    by_rule = {f.rule_id: f for f in findings("bluegreen-hostpath.yaml", pss_level="baseline")}
    assert by_rule["pss-host-path-volumes"].location.line == 28  # hostPath:
    assert by_rule["pss-host-path-volumes"].resource.name == "order-service"
    restricted = {f.rule_id: f for f in findings("bluegreen-hostpath.yaml")}
    assert restricted["pss-restricted-volumes"].location.line == 28
    assert not any(f.resource.name == "order-service-ref" for f in restricted.values())  # workloadRef: no template


@pytest.mark.integration
@pytest.mark.parametrize("env", ["staging", "production"])
def test_the_repository_rollouts_scan_clean(env):
    import yaml

    from scanner.load.kustomize import render
    from scanner.plan import scan_overlays

    rendered = [d for d in yaml.safe_load_all(render(f"manifests/overlays/{env}", build_metadata=False)) if d]
    assert {d["metadata"]["name"] for d in rendered if d["kind"] == "Rollout"} >= {"frontend", "api-gateway",
                                                                                     "order-service"}
    (result,) = scan_overlays([f"manifests/overlays/{env}"], ScanOptions())
    rollouts = [f for f in result.findings if f.resource.kind == "Rollout"]
    assert rollouts == []
    assert result.input_errors == [] and result.policy_errors == []


def test_rollout_rules_do_not_need_a_pod_template_path():
    loaded = load_paths([str(FIXTURES / "canary-privileged.yaml")])
    plain = scan_resources(loaded.resources, ScanOptions(select=["pss-privileged"]))
    assert len(plain.findings) == 1
