"""Source blame rules that decide where a finding on a Kustomize overlay points (real `kubectl kustomize`):
a patch only takes the blame for what it introduced beyond the declaration, and the last JSON6902 op that sets
a field is the one that set it (RFC 6902 applies operations in order)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.load import kustomize
from scanner.load.files import display_path
from scanner.model import Resource

pytestmark = pytest.mark.integration

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  selector:
    matchLabels:
      app: api
  template:
    metadata:
      labels:
        app: api
    spec:
      containers:
        - name: app
          image: example/api:1.0
"""
CONTAINER = ("spec", "template", "spec", "containers", 0)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _line(path: Path, needle: str) -> int:
    (hit,) = [n for n, text in enumerate(path.read_text().splitlines(), start=1) if needle in text]
    return hit


def _render(overlay: Path) -> Resource:
    loaded = kustomize.load_overlay(overlay)
    assert not loaded.errors
    (deployment,) = loaded.resources
    return deployment


def _where(resource: Resource, path: tuple) -> tuple[str, int]:
    file, pos = resource.locate(path)
    return file, pos.line


def _base(tmp_path: Path) -> Path:
    _write(tmp_path / "base" / "kustomization.yaml", "resources: [deploy.yaml]\n")
    return _write(tmp_path / "base" / "deploy.yaml", DEPLOYMENT)


def test_a_tie_goes_to_the_declaration_not_to_the_patch(tmp_path: Path) -> None:
    """A patch that reaches only as deep as the declaration did not introduce the missing field's parent."""
    base = _base(tmp_path)
    _write(tmp_path / "overlay" / "kustomization.yaml", "resources: [../base]\npatches:\n  - path: image.yaml\n")
    patch = _write(tmp_path / "overlay" / "image.yaml",
                   "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n"
                   "      containers:\n        - name: app\n          image: example/api:2.0\n")
    deployment = _render(tmp_path / "overlay")
    missing = (*CONTAINER, "securityContext", "privileged")  # held to the container by both: equal depth
    assert _where(deployment, missing) == (display_path(base), _line(base, "- name: app"))
    # the field the patch set, and a deeper prefix only the patch holds, do go to the patch
    assert _where(deployment, (*CONTAINER, "image")) == (display_path(patch), _line(patch, "example/api:2.0"))


def test_a_patch_that_introduced_a_deeper_part_takes_the_blame(tmp_path: Path) -> None:
    _base(tmp_path)
    _write(tmp_path / "overlay" / "kustomization.yaml", "resources: [../base]\npatches:\n  - path: sc.yaml\n")
    patch = _write(tmp_path / "overlay" / "sc.yaml",
                   "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n"
                   "      containers:\n        - name: app\n          securityContext:\n            runAsUser: 0\n")
    deployment = _render(tmp_path / "overlay")
    assert _where(deployment, (*CONTAINER, "securityContext", "privileged")) == (
        display_path(patch), _line(patch, "securityContext:"))


def test_the_last_json6902_op_that_sets_a_field_wins(tmp_path: Path) -> None:
    _base(tmp_path)
    kfile = _write(tmp_path / "overlay" / "kustomization.yaml",
                   "resources: [../base]\npatches:\n  - target: {kind: Deployment, name: api}\n    patch: |-\n"
                   "      - op: replace\n        path: /spec/template/spec/containers/0/image\n"
                   "        value: example/api:2.0\n"
                   "      - op: add\n        path: /spec/replicas\n        value: 3\n"
                   "      - op: replace\n        path: /spec/template/spec/containers/0/image\n"
                   "        value: example/api:3.0\n")
    deployment = _render(tmp_path / "overlay")
    assert deployment.obj["spec"]["template"]["spec"]["containers"][0]["image"] == "example/api:3.0"
    assert _where(deployment, (*CONTAINER, "image")) == (display_path(kfile), _line(kfile, "example/api:3.0"))
    assert _where(deployment, ("spec", "replicas")) == (display_path(kfile), _line(kfile, "value: 3"))


def test_a_deeper_json6902_op_wins_over_a_later_shallower_one(tmp_path: Path) -> None:
    _base(tmp_path)
    kfile = _write(tmp_path / "overlay" / "kustomization.yaml",
                   "resources: [../base]\npatches:\n  - target: {kind: Deployment, name: api}\n    patch: |-\n"
                   "      - op: add\n        path: /spec/template/spec/containers/0/securityContext\n"
                   "        value: {privileged: true}\n"
                   "      - op: add\n        path: /spec/template/spec/containers/0/env\n"
                   "        value: [{name: A, value: b}]\n")
    deployment = _render(tmp_path / "overlay")
    assert _where(deployment, (*CONTAINER, "securityContext", "privileged")) == (
        display_path(kfile), _line(kfile, "value: {privileged: true}"))
