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


def _resource(directory: Path, kind: str) -> Resource:
    loaded = kustomize.load_overlay(directory)
    assert not loaded.errors
    (found,) = [r for r in loaded.resources if r.kind == kind]
    return found


def _inline_json6902(ops: str, *, resources: str = "../base") -> str:
    """An overlay kustomization with one inline JSON6902 patch of the Deployment (``ops``: YAML lines of the op list)."""
    indented = "".join(f"      {line}\n" for line in ops.strip("\n").splitlines())
    return (f"resources: [{resources}]\npatches:\n  - target: {{kind: Deployment, name: api}}\n    patch: |-\n"
            f"{indented}")


def test_a_patch_names_the_object_by_any_name_it_had_between_the_layers(tmp_path: Path) -> None:
    """A strategic-merge patch addresses the object by the name it has when the patch's kustomization sees it:
    here the middle layer's prefixed name, which is neither the original nor the rendered one."""
    _base(tmp_path)
    _write(tmp_path / "middle" / "kustomization.yaml", "resources: [../base]\nnamePrefix: a-\n")
    _write(tmp_path / "overlay" / "kustomization.yaml",
           "resources: [../middle]\nnamePrefix: b-\npatches:\n  - path: image.yaml\n")
    patch = _write(tmp_path / "overlay" / "image.yaml",
                   "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a-api\nspec:\n  template:\n    spec:\n"
                   "      containers:\n        - name: app\n          image: example/api:2.0\n")
    deployment = _render(tmp_path / "overlay")
    assert deployment.name == "b-a-api"
    assert _where(deployment, (*CONTAINER, "image")) == (display_path(patch), _line(patch, "example/api:2.0"))


def test_a_patch_names_the_object_by_a_name_a_json6902_op_gave_it(tmp_path: Path) -> None:
    _base(tmp_path)
    _write(tmp_path / "middle" / "kustomization.yaml",
           _inline_json6902("- op: replace\n  path: /metadata/name\n  value: web"))
    _write(tmp_path / "overlay" / "kustomization.yaml", "resources: [../middle]\npatches:\n  - path: image.yaml\n")
    patch = _write(tmp_path / "overlay" / "image.yaml",
                   "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n"
                   "      containers:\n        - name: app\n          image: example/api:2.0\n")
    deployment = _render(tmp_path / "overlay")
    assert deployment.name == "web"
    assert _where(deployment, (*CONTAINER, "image")) == (display_path(patch), _line(patch, "example/api:2.0"))


def test_a_missing_field_points_at_the_deepest_prefix_that_exists(tmp_path: Path) -> None:
    """docs/kustomize-blame.md: without a source for the full path, the deepest existing prefix (the keys after
    the first missing one do not count, even where the parent happens to hold a key of that name)."""
    base = _base(tmp_path)
    deployment = _render(tmp_path / "base")
    containers = (display_path(base), _line(base, "containers:"))
    container = (display_path(base), _line(base, "- name: app"))
    assert _where(deployment, ("spec", "template", "spec", "containers", 3, "image")) == containers
    assert _where(deployment, (*CONTAINER, "securityContext", "image")) == container
    assert _where(deployment, (*CONTAINER, "securityContext", "privileged")) == container


def test_the_deepest_prefix_of_a_list_of_lists(tmp_path: Path) -> None:
    _write(tmp_path / "base" / "kustomization.yaml", "resources: [grid.yaml]\n")
    grid = _write(tmp_path / "base" / "grid.yaml",
                  "apiVersion: example.com/v1\nkind: Grid\nmetadata:\n  name: g\nspec:\n  matrix:\n    - - 1\n"
                  "      - 2\n    - - 3\n")
    resource = _resource(tmp_path / "base", "Grid")
    assert _where(resource, ("spec", "matrix", 1, 0)) == (display_path(grid), _line(grid, "- - 3"))
    assert _where(resource, ("spec", "matrix", 5, 0)) == (display_path(grid), _line(grid, "matrix:"))


def test_list_items_a_patch_added_beyond_the_declared_ones_go_to_the_patch(tmp_path: Path) -> None:
    """Tolerations have no merge key: a strategic-merge patch replaces the list, and the items beyond the base's
    introduced by the patch are blamed on the patch, also for a field they lack."""
    base = _write(tmp_path / "base" / "deploy.yaml", DEPLOYMENT + "      tolerations:\n        - key: a\n"
                  "          operator: Exists\n")
    _write(tmp_path / "base" / "kustomization.yaml", "resources: [deploy.yaml]\n")
    _write(tmp_path / "overlay" / "kustomization.yaml", "resources: [../base]\npatches:\n  - path: tol.yaml\n")
    patch = _write(tmp_path / "overlay" / "tol.yaml",
                   "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n"
                   "      tolerations:\n        - key: a\n          operator: Exists\n        - key: b\n"
                   "          operator: Exists\n        - key: c\n          operator: Exists\n")
    deployment = _render(tmp_path / "overlay")
    tolerations = ("spec", "template", "spec", "tolerations")
    assert len(deployment.obj["spec"]["template"]["spec"]["tolerations"]) == 3
    assert _where(deployment, (*tolerations, 2, "tolerationSeconds")) == (display_path(patch), _line(patch, "key: c"))
    assert display_path(base) != display_path(patch)


def test_a_patch_that_only_names_a_generated_object_is_not_blamed_for_its_metadata(tmp_path: Path) -> None:
    """A patch's metadata.name only addresses the object: a missing label of a generated ConfigMap points at its
    generator entry (docs/kustomize-blame.md), the data key the patch sets at the patch."""
    kfile = _write(tmp_path / "base" / "kustomization.yaml",
                   "configMapGenerator:\n  - name: settings\n    literals: [A=1]\npatches:\n  - path: cm.yaml\n")
    patch = _write(tmp_path / "base" / "cm.yaml",
                   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  B: \"2\"\n")
    config_map = _resource(tmp_path / "base", "ConfigMap")
    assert _where(config_map, ("metadata", "labels", "team")) == (display_path(kfile), _line(kfile, "- name: settings"))
    assert _where(config_map, ("data", "B")) == (display_path(patch), _line(patch, "B:"))


def test_json6902_test_and_remove_ops_set_nothing(tmp_path: Path) -> None:
    """RFC 6902: `test` only compares (and `remove` leaves no value); the op that set the field is the last op
    that wrote it, whatever non-writing ops come before or after it."""
    _base(tmp_path)
    kfile = _write(tmp_path / "overlay" / "kustomization.yaml", _inline_json6902(
        "- op: test\n  path: /spec/template/spec/containers/0/image\n  value: example/api:1.0\n"
        "- op: replace\n  path: /spec/template/spec/containers/0/image\n  value: example/api:2.0\n"
        "- op: test\n  path: /spec/template/spec/containers/0/image\n  value: example/api:2.0\n"))
    deployment = _render(tmp_path / "overlay")
    replaced = next(n for n, text in enumerate(kfile.read_text().splitlines(), 1) if "example/api:2.0" in text)
    assert _where(deployment, (*CONTAINER, "image")) == (display_path(kfile), replaced)


def test_a_later_json6902_op_that_replaces_the_parent_wins_over_an_earlier_deeper_one(tmp_path: Path) -> None:
    """The last op to write a field set it, even when it wrote a parent: both reach the whole path."""
    _base(tmp_path)
    sc = "/spec/template/spec/containers/0/securityContext"
    kfile = _write(tmp_path / "overlay" / "kustomization.yaml", _inline_json6902(
        f"- op: add\n  path: {sc}\n  value: {{}}\n"
        f"- op: add\n  path: {sc}/capabilities\n  value: {{add: [NET_ADMIN]}}\n"
        f"- op: replace\n  path: {sc}\n  value: {{capabilities: {{add: [SYS_ADMIN]}}}}\n"))
    deployment = _render(tmp_path / "overlay")
    assert deployment.obj["spec"]["template"]["spec"]["containers"][0]["securityContext"] == {
        "capabilities": {"add": ["SYS_ADMIN"]}}
    assert _where(deployment, (*CONTAINER, "securityContext", "capabilities", "add")) == (
        display_path(kfile), _line(kfile, "SYS_ADMIN"))


def test_a_json6902_append_is_the_last_item(tmp_path: Path) -> None:
    """RFC 6901/6902: `-` is the end of the array; the appended container is the last one rendered."""
    _base(tmp_path)
    kfile = _write(tmp_path / "overlay" / "kustomization.yaml", _inline_json6902(
        "- op: add\n  path: /spec/template/spec/containers/-\n"
        "  value: {name: sidecar, image: example/side:1, securityContext: {privileged: true}}"))
    deployment = _render(tmp_path / "overlay")
    sidecar = ("spec", "template", "spec", "containers", 1)
    assert deployment.obj["spec"]["template"]["spec"]["containers"][1]["name"] == "sidecar"
    assert _where(deployment, (*sidecar, "securityContext", "privileged")) == (
        display_path(kfile), _line(kfile, "name: sidecar"))


def test_json6902_paths_through_several_list_indices(tmp_path: Path) -> None:
    _write(tmp_path / "base" / "kustomization.yaml", "resources: [deploy.yaml]\n")
    _write(tmp_path / "base" / "deploy.yaml", DEPLOYMENT + "          args: [--a]\n"
           "        - name: side\n          image: example/side:1\n          args: [--b]\n")
    kfile = _write(tmp_path / "overlay" / "kustomization.yaml", _inline_json6902(
        "- op: replace\n  path: /spec/template/spec/containers/0/args/0\n  value: --first\n"
        "- op: replace\n  path: /spec/template/spec/containers/1/args/0\n  value: --second\n"))
    deployment = _render(tmp_path / "overlay")
    containers = ("spec", "template", "spec", "containers")
    assert _where(deployment, (*containers, 0, "args", 0)) == (display_path(kfile), _line(kfile, "--first"))
    assert _where(deployment, (*containers, 1, "args", 0)) == (display_path(kfile), _line(kfile, "--second"))


def test_a_json6902_index_that_a_later_op_removed_does_not_break_the_blame(tmp_path: Path) -> None:
    """Indices are resolved in rendered order (a documented limit): an op whose index no longer exists after a
    later `remove` cannot be traced, and the finding still gets a location in one of the overlay's files."""
    base = _base(tmp_path)
    kfile = _write(tmp_path / "overlay" / "kustomization.yaml", _inline_json6902(
        "- op: add\n  path: /spec/template/spec/containers/1\n  value: {name: side, image: example/side:1}\n"
        "- op: replace\n  path: /spec/template/spec/containers/1/image\n  value: example/side:2\n"
        "- op: remove\n  path: /spec/template/spec/containers/0\n"))
    deployment = _render(tmp_path / "overlay")
    assert [c["name"] for c in deployment.obj["spec"]["template"]["spec"]["containers"]] == ["side"]
    file, _ = _where(deployment, (*CONTAINER, "image"))
    assert file in (display_path(base), display_path(kfile))
