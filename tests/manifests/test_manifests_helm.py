"""The Helm charts: their pre-rendered output (fixtures, written by `helm template`) passes the same structural
checks as the overlays, and, where helm is installed, the fixtures are exactly what the charts render now."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.fixtures.tools import require_tool
from tests.manifests.manifest_checks import (
    DATABASES,
    ENVIRONMENTS,
    MANIFESTS,
    SERVICES,
    Obj,
    allow_all_problems,
    availability_problems,
    default_deny_problems,
    effective_paths,
    find,
    hardening_problems,
    image_problems,
    load_documents,
    of_kind,
    operability_problems,
    reference_problems,
)

FIXTURES = Path(__file__).parent / "fixtures"
KUBE_VERSION = "1.31.0"
MIN_REPLICAS = {"development": 1, "staging": 2, "production": 2}


def helm_command(chart: str, env: str) -> list[str]:
    """The command that renders a fixture (also written in the fixture's first line)."""
    release, namespace = ("shop", ["-n", f"shop-{env}"]) if chart == "microservices" else ("shop-infra", [])
    return ["helm", "template", release, f"manifests/helm/{chart}", *namespace,
            "-f", f"manifests/helm/{chart}/values-{env}.yaml", "--kube-version", KUBE_VERSION]


def fixture(chart: str, env: str) -> Path:
    return FIXTURES / f"helm-{chart}-{env}.yaml"


def combined(env: str) -> list[Obj]:
    return [o for chart in ("infrastructure", "microservices") for o in load_documents(fixture(chart, env).read_text())]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_chart_output_is_hardened_and_pinned(env: str) -> None:
    objs = combined(env)
    assert {o["metadata"]["name"] for o in of_kind(objs, "Deployment")} == set(SERVICES)
    assert {o["metadata"]["name"] for o in of_kind(objs, "StatefulSet")} == set(DATABASES.values())
    assert hardening_problems(objs) == []
    assert image_problems(objs) == []
    assert operability_problems(objs) == []
    assert availability_problems(objs, MIN_REPLICAS[env]) == []
    assert reference_problems(objs) == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_chart_output_segments_the_namespace(env: str) -> None:
    objs = combined(env)
    assert default_deny_problems(objs) == []
    assert allow_all_problems(objs) == []
    graph = effective_paths(objs, f"shop-{env}")
    assert ("frontend", "api-gateway", "http/TCP") in graph
    assert {(b, db, "tcp-postgres/TCP") for b, db in DATABASES.items()} <= graph
    assert len(graph) == 7
    namespace = find(objs, "Namespace", f"shop-{env}")
    assert namespace is not None
    enforce = namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
    assert enforce == ("baseline" if env == "development" else "restricted")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_charts_and_overlays_pin_the_same_images(env: str) -> None:
    overlay = (MANIFESTS / "overlays" / env / "kustomization.yaml").read_text()
    for deployment in of_kind(combined(env), "Deployment"):
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        tag_and_digest = image.split(":", 1)[1]
        assert f"newTag: {tag_and_digest}" in overlay, f"{env}: chart and overlay disagree on {image}"


@pytest.mark.parametrize("chart", ["microservices", "infrastructure"])
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_fixture_names_its_command(chart: str, env: str) -> None:
    first = fixture(chart, env).read_text().splitlines()[0]
    assert first.endswith(" ".join(helm_command(chart, env))), first


@pytest.mark.integration
@pytest.mark.parametrize("chart", ["microservices", "infrastructure"])
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_fixture_matches_helm_template(chart: str, env: str) -> None:
    helm = require_tool("helm")  # scripts/install-tools.sh builds it: missing is a failure, not a skip
    command = [str(helm), *helm_command(chart, env)[1:]]
    result = subprocess.run(command, cwd=MANIFESTS.parent, capture_output=True, text=True, check=True, timeout=120)
    recorded = fixture(chart, env).read_text().split("\n", 1)[1]
    assert result.stdout == recorded
