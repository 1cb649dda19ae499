"""Gate (a): every kustomization under manifests/ (and the generated gatekeeper/) renders with real kubectl."""

from __future__ import annotations

import pytest

from tests.manifests.manifest_checks import MANIFESTS, REPO, ident, kustomization_dirs, render

pytestmark = pytest.mark.integration

DIRS = kustomization_dirs(MANIFESTS)


def test_the_layout_has_the_expected_kustomizations() -> None:
    names = {str(d.relative_to(MANIFESTS)) for d in DIRS}
    expected = {"overlays/development", "overlays/staging", "overlays/production", "base", "infrastructure",
                "infrastructure/cluster", "monitoring", "argocd", "argocd/apps", "kguard-system",
                "components/progressive-delivery"}
    expected |= {f"base/{s}" for s in ("frontend", "api-gateway", "user-service", "product-service", "order-service")}
    assert expected <= names


@pytest.mark.parametrize("directory", DIRS, ids=[str(d.relative_to(MANIFESTS)) for d in DIRS])
def test_kustomization_renders(directory) -> None:
    objs = render(directory)
    assert objs, f"{directory} rendered nothing"
    identities = [ident(o) for o in objs]
    duplicates = {i for i in identities if identities.count(i) > 1}
    assert not duplicates, f"duplicate objects: {sorted(duplicates)}"


def test_gatekeeper_mirror_renders() -> None:
    gatekeeper = REPO / "gatekeeper"
    assert (gatekeeper / "kustomization.yaml").is_file(), "gatekeeper/ is generated and committed (kguard gatekeeper build)"
    objs = render(gatekeeper)
    assert any(o["kind"] == "ConstraintTemplate" for o in objs)


def test_overlays_do_not_pull_in_gatekeeper() -> None:
    """Gatekeeper policies reach production through Argo CD (manifests/argocd), not through the overlays."""
    for overlay in (MANIFESTS / "overlays").iterdir():
        text = (overlay / "kustomization.yaml").read_text()
        assert "gatekeeper" not in text, f"{overlay} references gatekeeper/"
