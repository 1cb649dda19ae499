"""Gate (d): rolling back (or promoting) a service is one line in one overlay, and that line changes nothing
but the image of that service's workload."""

from __future__ import annotations

import difflib
import hashlib
import re
import shutil
from pathlib import Path

import pytest

from tests.manifests.manifest_checks import (
    ENVIRONMENTS,
    MANIFESTS,
    SERVICES,
    Obj,
    non_image_changes,
    render_uncached,
    rendered_diff,
)

pytestmark = pytest.mark.integration


def image_line(text: str, service: str) -> str:
    """The overlay's `newTag: <tag>@sha256:<digest>` line for a service's image."""
    match = re.search(rf"- name: \S+/shop/{re.escape(service)}\n(\s+newTag: \S+)\n", text)
    assert match, f"no images entry for {service}"
    return match.group(1)


# One case per workload shape: plain Deployment, canary Rollout, blue-green Rollout, Deployment in production.
CASES = [("development", "frontend"), ("staging", "api-gateway"), ("production", "order-service"),
         ("production", "user-service")]


def test_cases_cover_every_environment_and_a_valid_service() -> None:
    assert {env for env, _ in CASES} == set(ENVIRONMENTS)
    assert {service for _, service in CASES} <= set(SERVICES)


@pytest.mark.parametrize(("env", "service"), CASES)
def test_rollback_is_one_overlay_line(rendered_overlays: dict[str, list[Obj]], tmp_path: Path, env: str,
                                      service: str) -> None:
    tree = tmp_path / "manifests"
    shutil.copytree(MANIFESTS, tree)
    overlay = tree / "overlays" / env / "kustomization.yaml"
    before_text = overlay.read_text()
    line = image_line(before_text, service)
    previous = "1.4.0@sha256:" + hashlib.sha256(f"{service}:1.4.0".encode()).hexdigest()
    after_text = before_text.replace(line, re.sub(r"newTag: \S+", f"newTag: {previous}", line))
    overlay.write_text(after_text)

    edited = [d for d in difflib.unified_diff(before_text.splitlines(), after_text.splitlines(), n=0, lineterm="")
              if d[:1] in "+-" and not d.startswith(("+++", "---"))]
    assert len(edited) == 2, edited

    after = render_uncached(tree / "overlays" / env)
    changes = rendered_diff(rendered_overlays[env], after)
    assert changes, "changing the image line changed nothing"
    assert non_image_changes(changes) == []
    assert all(c.startswith(("Deployment", "Rollout")) and f"/{service} " in c for c in changes), changes
    (workload,) = [o for o in after if o["kind"] in ("Deployment", "Rollout") and o["metadata"]["name"] == service]
    assert workload["spec"]["template"]["spec"]["containers"][0]["image"].endswith(f":{previous}")
