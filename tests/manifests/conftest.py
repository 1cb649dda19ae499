"""Fixtures for the manifest tests: overlays rendered once per session with the real kubectl."""

from __future__ import annotations

import pytest

from tests.manifests.manifest_checks import ENVIRONMENTS, MANIFESTS, Obj, render


@pytest.fixture(scope="session")
def rendered_overlays() -> dict[str, list[Obj]]:
    """Every environment overlay rendered by `kubectl kustomize`."""
    return {env: render(MANIFESTS / "overlays" / env) for env in ENVIRONMENTS}


@pytest.fixture(scope="session")
def rendered_kguard_system() -> list[Obj]:
    return render(MANIFESTS / "kguard-system")


@pytest.fixture(scope="session")
def rendered_argocd() -> list[Obj]:
    return render(MANIFESTS / "argocd" / "apps")
