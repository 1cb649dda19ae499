"""Kustomize rendering with the real `kubectl kustomize`, source blame, per-overlay scans and overlay discovery."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from scanner.load import kustomize
from scanner.load.files import display_path
from scanner.model import Resource
from scanner.plan import scan_overlays
from scanner.scan import ScanOptions

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kustomize"
APP = FIXTURES / "app"
TEMPLATES = FIXTURES / "templates"
CONTAINERS = ("spec", "template", "spec", "containers")


def _shown(path: Path) -> str:
    return display_path(path)


def _line(path: Path, needle: str, occurrence: int = 1) -> int:
    """1-based line of the ``occurrence``-th line containing ``needle``."""
    hits = [n for n, text in enumerate(path.read_text().splitlines(), start=1) if needle in text]
    return hits[occurrence - 1]


def _resource(resources: list[Resource], kind: str, name: str) -> Resource:
    matches = [r for r in resources if r.kind == kind and r.name == name]
    assert len(matches) == 1, [(r.kind, r.name) for r in resources]
    return matches[0]


def _container_index(resource: Resource, name: str) -> int:
    containers = resource.obj["spec"]["template"]["spec"]["containers"]
    return next(i for i, c in enumerate(containers) if c["name"] == name)


def _where(resource: Resource, path: tuple[str | int, ...]) -> tuple[str, int]:
    file, pos = resource.locate(path)
    return file, pos.line


@pytest.fixture(scope="module")
def dev() -> list[Resource]:
    loaded = kustomize.load_overlay(APP / "overlays" / "dev")
    assert not loaded.errors
    return loaded.resources


@pytest.fixture(scope="module")
def prod() -> list[Resource]:
    loaded = kustomize.load_overlay(APP / "overlays" / "prod")
    assert not loaded.errors
    return loaded.resources


@pytest.mark.integration
def test_build_annotations_are_stripped_and_user_files_untouched(dev: list[Resource]) -> None:
    for resource in dev:
        assert kustomize.ORIGIN_ANNOTATION not in resource.metadata.get("annotations", {})
        assert kustomize.TRANSFORMATIONS_ANNOTATION not in resource.metadata.get("annotations", {})
    assert "buildMetadata" not in (APP / "overlays" / "dev" / "kustomization.yaml").read_text()
    assert sorted((r.kind, r.name.rsplit("-", 1)[0] if r.kind == "ConfigMap" else r.name) for r in dev) == [
        ("ConfigMap", "dev-web-config"), ("Deployment", "dev-web"), ("Deployment", "dev-worker"),
        ("Service", "dev-web")]


@pytest.mark.integration
def test_rendered_objects_equal_a_plain_render(dev: list[Resource]) -> None:
    from scanner.load.files import load_text

    plain = load_text(kustomize.render(APP / "overlays" / "dev", build_metadata=False), "x").resources
    configmap = next(r for r in plain if r.kind == "ConfigMap")
    assert configmap.obj["data"]["DB_PASSWORD"] != kustomize.REDACTED
    for resource in plain:  # the loader redacts ConfigMap/Secret values, and nothing else differs
        kustomize.redact_values(resource.obj)
    assert set(configmap.obj["data"].values()) == {kustomize.REDACTED}
    assert sorted((r.kind, r.name, repr(r.obj)) for r in plain) == sorted((r.kind, r.name, repr(r.obj)) for r in dev)


@pytest.mark.integration
def test_value_from_base_points_at_the_base_file(dev: list[Resource]) -> None:
    worker = _resource(dev, "Deployment", "dev-worker")
    workloads = APP / "base" / "workloads.yaml"
    assert _where(worker, (*CONTAINERS, 0, "securityContext", "privileged")) == (
        _shown(workloads), _line(workloads, "privileged: true"))
    assert _where(worker, ()) == (_shown(workloads), _line(workloads, "apiVersion: apps/v1", 2))
    # which copy of the object: the overlay's, whether blame is deferred or not
    assert worker.path == _shown(APP / "overlays" / "dev" / "kustomization.yaml")


@pytest.mark.integration
def test_strategic_merge_patch_file_that_adds_a_field(dev: list[Resource]) -> None:
    web = _resource(dev, "Deployment", "dev-web")
    patch = APP / "overlays" / "dev" / "sidecar-privileged.yaml"
    sidecar = _container_index(web, "sidecar")
    assert _where(web, (*CONTAINERS, sidecar, "securityContext", "privileged")) == (
        _shown(patch), _line(patch, "privileged: true"))
    # the field the patch did not touch still belongs to the base, even though the patch names the container
    base = APP / "base" / "workloads.yaml"
    assert _where(web, (*CONTAINERS, sidecar, "image")) == (_shown(base), _line(base, "image: busybox"))


@pytest.mark.integration
def test_inline_json6902_patch_that_changes_a_field(dev: list[Resource]) -> None:
    web = _resource(dev, "Deployment", "dev-web")
    kfile = APP / "overlays" / "dev" / "kustomization.yaml"
    file, pos = web.locate(("spec", "replicas"))
    assert (file, pos.line) == (_shown(kfile), _line(kfile, "value: 3"))
    assert pos.column == kfile.read_text().splitlines()[pos.line - 1].index("value") + 1


@pytest.mark.integration
def test_transformers_point_at_their_kustomization_line(dev: list[Resource]) -> None:
    web = _resource(dev, "Deployment", "dev-web")
    kfile = APP / "overlays" / "dev" / "kustomization.yaml"
    base_k = APP / "base" / "kustomization.yaml"
    assert _where(web, ("metadata", "name")) == (_shown(kfile), _line(kfile, "namePrefix:"))
    assert _where(web, ("metadata", "namespace")) == (_shown(kfile), _line(kfile, "namespace:"))
    assert _where(web, (*CONTAINERS, _container_index(web, "web"), "image")) == (
        _shown(kfile), _line(kfile, "newTag: latest"))
    assert _where(web, ("metadata", "labels", "team")) == (_shown(base_k), _line(base_k, "team: shop"))
    assert _where(web, ("spec", "selector", "matchLabels", "team")) == (_shown(base_k), _line(base_k, "team: shop"))


@pytest.mark.integration
def test_generated_configmap_points_at_generator_and_env_file(dev: list[Resource]) -> None:
    config = next(r for r in dev if r.kind == "ConfigMap")
    base_k = APP / "base" / "kustomization.yaml"
    env = APP / "base" / "config.env"
    assert config.name.startswith("dev-web-config-")
    assert _where(config, ("data", "LOG_LEVEL")) == (_shown(base_k), _line(base_k, "LOG_LEVEL=info"))
    assert _where(config, ("data", "DB_PASSWORD")) == (_shown(env), _line(env, "DB_PASSWORD="))
    assert _where(config, ()) == (_shown(base_k), _line(base_k, "- name: web-config"))


@pytest.mark.integration
def test_multi_level_overlay_later_layer_wins(prod: list[Resource]) -> None:
    web = _resource(prod, "Deployment", "prod-dev-web")
    prod_k = APP / "overlays" / "prod" / "kustomization.yaml"
    assert _where(web, ("metadata", "name")) == (_shown(prod_k), _line(prod_k, "namePrefix: prod-"))
    assert _where(web, ("metadata", "namespace")) == (_shown(prod_k), _line(prod_k, "namespace: prod"))
    assert _where(web, ("spec", "replicas")) == (_shown(prod_k), _line(prod_k, "count: 5"))
    # prod's inline strategic-merge patch sets the image that dev's `images:` had set before
    assert _where(web, (*CONTAINERS, _container_index(web, "web"), "image")) == (
        _shown(prod_k), _line(prod_k, "image: nginx:latest"))
    # prod patches the sidecar's securityContext too, but privileged still comes from dev's patch file
    dev_patch = APP / "overlays" / "dev" / "sidecar-privileged.yaml"
    sidecar = _container_index(web, "sidecar")
    assert _where(web, (*CONTAINERS, sidecar, "securityContext", "privileged")) == (
        _shown(dev_patch), _line(dev_patch, "privileged: true"))
    assert _where(web, (*CONTAINERS, sidecar, "securityContext", "allowPrivilegeEscalation")) == (
        _shown(prod_k), _line(prod_k, "allowPrivilegeEscalation"))


@pytest.mark.integration
def test_component_inline_patch(prod: list[Resource]) -> None:
    web = _resource(prod, "Deployment", "prod-dev-web")
    component = APP / "components" / "debug" / "kustomization.yaml"
    assert _where(web, ("spec", "template", "spec", "hostNetwork")) == (
        _shown(component), _line(component, "hostNetwork: true"))


@pytest.mark.integration
def test_legacy_json6902_patch_file(prod: list[Resource]) -> None:
    worker = _resource(prod, "Deployment", "prod-dev-worker")
    ops = APP / "overlays" / "prod" / "worker-image.yaml"
    assert _where(worker, (*CONTAINERS, 0, "image")) == (_shown(ops), _line(ops, "value: busybox:latest"))


@pytest.mark.integration
def test_missing_field_points_at_deepest_existing_prefix(prod: list[Resource]) -> None:
    worker = _resource(prod, "Deployment", "prod-dev-worker")
    base = APP / "base" / "workloads.yaml"
    assert _where(worker, (*CONTAINERS, 0, "securityContext", "runAsNonRoot")) == (
        _shown(base), _line(base, "securityContext:", 2))


@pytest.mark.integration
def test_scan_overlays_blames_findings_and_categories() -> None:
    options = ScanOptions(template_dirs=[str(TEMPLATES)], default_policies=False, workers=1)
    results = scan_overlays([str(APP / "overlays" / "dev"), str(APP / "overlays" / "prod")], options)
    assert [r.category for r in results] == [f"kguard/{_shown(APP / 'overlays' / 'dev')}",
                                            f"kguard/{_shown(APP / 'overlays' / 'prod')}"]
    prod = results[1]
    assert not prod.input_errors and not prod.policy_errors
    found = {(f.rule_id, f.resource.name, f.location.path, f.location.line) for f in prod.findings}
    component = APP / "components" / "debug" / "kustomization.yaml"
    prod_k = APP / "overlays" / "prod" / "kustomization.yaml"
    env = APP / "base" / "config.env"
    assert ("test-host-network", "prod-dev-web", _shown(component), _line(component, "hostNetwork")) in found
    assert ("test-max-replicas", "prod-dev-web", _shown(prod_k), _line(prod_k, "count: 5")) in found
    config = next(f for f in prod.findings if f.rule_id == "test-password-in-config")
    assert (config.location.path, config.location.line) == (_shown(env), _line(env, "DB_PASSWORD"))
    assert prod.exit_code(None) == 0


@pytest.mark.integration
@pytest.mark.parametrize(("overlay", "expected"), [
    ("missing-file", "does-not-exist.yaml"),
    ("helm", "helm"),
    ("restrictor", "load restrictor"),
])
def test_render_failure_is_an_input_error_of_that_overlay_only(overlay: str, expected: str) -> None:
    options = ScanOptions(template_dirs=[str(TEMPLATES)], default_policies=False, workers=1)
    broken = FIXTURES / "broken" / overlay
    results = scan_overlays([str(broken), str(APP / "overlays" / "dev")], options)
    assert len(results) == 2
    (error,) = results[0].input_errors
    assert error.path == _shown(broken)
    assert expected in error.message and "\n" not in error.message
    assert "<wrapper>" not in error.message and "kguard-kustomize-" not in error.message
    assert results[0].exit_code(None) == 2
    assert results[1].findings and not results[1].input_errors


def test_missing_directory_is_an_input_error(tmp_path: Path) -> None:
    loaded = kustomize.load_overlay(tmp_path / "nope")
    assert loaded.errors and "no such directory" in loaded.errors[0].message
    (tmp_path / "empty").mkdir()
    assert "no kustomization.yaml" in kustomize.load_overlay(tmp_path / "empty").errors[0].message


def test_kubectl_binary_prefers_the_venv_copy() -> None:
    import sys

    beside = Path(sys.executable).parent / "kubectl"
    if beside.is_file():
        assert kustomize.kubectl_binary() == str(beside)
    else:
        assert os.path.basename(kustomize.kubectl_binary()).startswith("kubectl")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_discover_overlays_roots_only(tmp_path: Path) -> None:
    _write(tmp_path / "base" / "kustomization.yaml", "resources: [deploy.yaml]\n")
    _write(tmp_path / "base" / "deploy.yaml", "kind: ConfigMap\n")
    _write(tmp_path / "comp" / "kustomization.yaml", "kind: Component\n")
    _write(tmp_path / "overlays" / "a" / "kustomization.yaml", "resources: [../../base]\ncomponents: [../../comp]\n")
    _write(tmp_path / "overlays" / "b" / "kustomization.yaml", "resources: [../a]\n")
    _write(tmp_path / "other" / "kustomization.yml", "resources: []\n")
    _write(tmp_path / ".hidden" / "kustomization.yaml", "resources: []\n")
    assert kustomize.discover_overlays(tmp_path) == [tmp_path / "other", tmp_path / "overlays" / "b"]


def test_discover_overlays_from_config(tmp_path: Path) -> None:
    for name in ("dev", "prod", "test"):
        _write(tmp_path / "envs" / name / "kustomization.yaml", "resources: []\n")
    _write(tmp_path / ".kguard.yaml", "overlays:\n  - envs/p*\n  - envs/dev\n")
    assert kustomize.discover_overlays(tmp_path) == [tmp_path / "envs" / "prod", tmp_path / "envs" / "dev"]
    _write(tmp_path / ".kguard.yaml", "overlays:\n  - envs/nothing\n")
    with pytest.raises(kustomize.UsageError, match=r"no kustomization\.yaml"):
        kustomize.discover_overlays(tmp_path)


def test_the_files_of_a_kustomization_s_helm_charts_are_its_inputs(tmp_path: Path) -> None:
    """helm reads the whole chart: a changed template must re-render the overlay (pre-commit, `kguard diff`)."""
    overlay = tmp_path / "overlay"
    template = overlay / "charts" / "web" / "templates" / "deployment.yaml"
    template.parent.mkdir(parents=True)
    template.write_text("kind: Deployment\n")
    (overlay / "charts" / "web" / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 0.1.0\n")
    (overlay / "kustomization.yaml").write_text("helmCharts:\n- name: web\n  releaseName: web\n")
    other = tmp_path / "other"
    (other / "vendor" / "api" / "templates").mkdir(parents=True)
    (other / "vendor" / "api" / "templates" / "pod.yaml").write_text("kind: Pod\n")
    (other / "kustomization.yaml").write_text("helmGlobals: {chartHome: vendor}\nhelmCharts:\n- name: api\n")
    assert template.resolve() in kustomize.kustomization_inputs(overlay)
    assert (overlay / "charts" / "web" / "Chart.yaml").resolve() in kustomize.kustomization_inputs(overlay)
    assert (other / "vendor" / "api" / "templates" / "pod.yaml").resolve() in kustomize.kustomization_inputs(other)
    assert kustomize.affected_overlays([template], tmp_path) == [overlay.resolve()]


def test_kustomization_inputs_and_affected_overlays() -> None:
    inputs = kustomize.kustomization_inputs(APP / "overlays" / "prod")
    for expected in ("base/workloads.yaml", "base/config.env", "base/kustomization.yaml",
                     "overlays/dev/sidecar-privileged.yaml", "overlays/prod/worker-image.yaml",
                     "components/debug/kustomization.yaml"):
        assert APP / expected in inputs
    assert APP / "base" / "service.yaml" in kustomize.kustomization_inputs(APP / "base")
    affected = kustomize.affected_overlays([APP / "overlays" / "dev" / "sidecar-privileged.yaml"], APP)
    assert affected == [APP / "overlays" / "prod"]  # dev is referenced by prod, so prod is the overlay
    assert kustomize.affected_overlays([APP / "components" / "debug" / "kustomization.yaml"], APP) == [
        APP / "overlays" / "prod"]
    assert kustomize.affected_overlays([FIXTURES / "templates" / "privileged.yaml"], APP) == []


def test_discover_overlays_exclude(tmp_path: Path) -> None:
    for name in ("deploy/dev", "deploy/prod", "tests/fixtures/broken", "gatekeeper"):
        _write(tmp_path / name / "kustomization.yaml", "resources: []\n")
    _write(tmp_path / ".kguard.yaml", "exclude:\n  - tests\n  - gatekeeper\n")
    assert kustomize.discover_overlays(tmp_path) == [tmp_path / "deploy" / "dev", tmp_path / "deploy" / "prod"]
    _write(tmp_path / ".kguard.yaml", "exclude: tests\n")
    with pytest.raises(kustomize.UsageError, match="must be a list"):
        kustomize.discover_overlays(tmp_path)


@pytest.mark.integration
def test_deferred_blame_gives_the_same_locations() -> None:
    options = ScanOptions(template_dirs=[str(TEMPLATES)], default_policies=False, workers=1)
    overlays = [str(APP / "overlays" / "dev"), str(APP / "overlays" / "prod")]
    eager = scan_overlays(overlays, options)
    deferred = scan_overlays(overlays, options, deferred_blame=True)
    for a, b in zip(eager, deferred, strict=True):
        assert a.findings and [(f.fingerprint, f.location) for f in a.findings] == [
            (f.fingerprint, f.location) for f in b.findings]
    clean = kustomize.load_overlay(APP / "base", deferred_blame=True)
    assert all(isinstance(r.blame, functools.partial) for r in clean.resources)
    assert clean.resources[0].blame.func.__self__._blamed is None  # no second render until a location is needed


@pytest.mark.integration
def test_set_based_label_selector_target_and_merged_generator(prod: list[Resource]) -> None:
    prod_k = APP / "overlays" / "prod" / "kustomization.yaml"
    for name in ("prod-dev-web", "prod-dev-worker"):  # `team in (shop, ops)` selects both
        deployment = _resource(prod, "Deployment", name)
        assert deployment.obj["spec"]["minReadySeconds"] == 10
        assert _where(deployment, ("spec", "minReadySeconds")) == (_shown(prod_k), _line(prod_k, "value: 10"))
    config = next(r for r in prod if r.kind == "ConfigMap")
    env = APP / "base" / "config.env"
    assert config.obj["data"]["LOG_LEVEL"] == kustomize.REDACTED  # values never leave the loader; keys do
    assert _where(config, ("data", "LOG_LEVEL")) == (_shown(prod_k), _line(prod_k, "LOG_LEVEL=warn"))
    assert _where(config, ("data", "CACHE_SIZE")) == (_shown(env), _line(env, "CACHE_SIZE="))


def test_label_selector_grammar() -> None:
    labels = {"tier": "web", "team": "shop"}
    assert kustomize.selector_matches("tier=web,team in (shop, ops)", labels)
    assert kustomize.selector_matches("tier==web,!missing,team", labels)
    assert not kustomize.selector_matches("tier!=web", labels)
    assert not kustomize.selector_matches("team notin (shop)", labels)
    assert kustomize.selector_matches("absent notin (x)", labels)
    assert not kustomize.selector_matches("tier in (db)", labels)
    assert not kustomize.selector_matches("tier in (web", labels)  # unparseable claims nothing


def _leaves(value: object, path: tuple[str | int, ...] = ()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path, value


def _blame_misses(resources: list[Resource]) -> tuple[int, list[str]]:
    """Leaves whose blamed line shows neither the value nor the key (transformer-made values excepted)."""
    total, misses = 0, []
    for resource in resources:
        for path, value in _leaves(resource.obj):
            if path[:2] in (("metadata", "name"), ("metadata", "namespace")) or path[-1] == "image":
                continue  # prefixes, namespaces and image tags are only a part of the value
            total += 1
            file, pos = resource.locate(path)
            lines = Path(file).read_text().splitlines()
            assert 1 <= pos.line <= len(lines), (file, pos)
            line = lines[pos.line - 1]
            shown = (value.splitlines()[0] if isinstance(value, str) and value else str(value)).lower()
            if not ((value != "" and shown in line.lower()) or (isinstance(path[-1], str) and path[-1] in line)):
                misses.append(f"{resource.kind}/{resource.name} {path} -> {file}:{pos.line}")
    return total, misses


@pytest.mark.integration
def test_every_rendered_leaf_points_at_a_line_that_shows_it(dev: list[Resource], prod: list[Resource]) -> None:
    for resources in (dev, prod):
        total, misses = _blame_misses([r for r in resources if r.kind != "ConfigMap"])
        assert total > 20 and misses == []


@pytest.mark.integration
def test_repository_overlays_blame_almost_every_leaf() -> None:
    repo_overlays = kustomize.discover_overlays(Path(__file__).resolve().parents[2] / "manifests")
    assert len(repo_overlays) >= 3, repo_overlays  # development, staging, production: none found is a regression
    total, misses = 0, []
    for overlay in repo_overlays:
        loaded = kustomize.load_overlay(overlay)
        assert not loaded.errors, loaded.errors
        count, missed = _blame_misses([r for r in loaded.resources if r.kind not in ("ConfigMap", "Secret")])
        total, misses = total + count, misses + missed
    assert total > 1000 and len(misses) <= total // 100, misses[:20]


@pytest.mark.integration
def test_legacy_patches_strategic_merge_file_and_inline(prod: list[Resource]) -> None:
    worker = _resource(prod, "Deployment", "prod-dev-worker")
    limits = APP / "overlays" / "prod" / "worker-limits.yaml"
    assert _where(worker, (*CONTAINERS, 0, "resources", "limits", "memory")) == (
        _shown(limits), _line(limits, "memory: 256Mi"))
    service = _resource(prod, "Service", "prod-dev-web")
    prod_k = APP / "overlays" / "prod" / "kustomization.yaml"
    file, pos = service.locate(("spec", "sessionAffinity"))
    assert (file, pos.line) == (_shown(prod_k), _line(prod_k, "sessionAffinity: ClientIP"))
    assert pos.column == prod_k.read_text().splitlines()[pos.line - 1].index("sessionAffinity") + 1


@pytest.mark.integration
def test_objects_from_a_list_document(tmp_path: Path) -> None:
    _write(tmp_path / "kustomization.yaml", "resources: [list.yaml]\nnamePrefix: x-\n")
    items = "".join(f"  - apiVersion: v1\n    kind: ConfigMap\n    metadata:\n      name: {n}\n    data:\n      k: {n}\n"
                    for n in ("a", "b"))
    _write(tmp_path / "list.yaml", f"apiVersion: v1\nkind: List\nitems:\n{items}")
    resources = kustomize.load_overlay(tmp_path).resources
    assert [(r.name, r.locate(("data", "k"))[1].line) for r in resources] == [("x-a", 9), ("x-b", 15)]


@pytest.mark.integration
def test_invalid_kustomization_names_its_file_and_line(tmp_path: Path) -> None:
    _write(tmp_path / "base" / "kustomization.yaml", "resources:\n  - a.yaml\nfoo: [\n")
    _write(tmp_path / "overlay" / "kustomization.yaml", "resources: [../base]\n")
    for directory in ("base", "overlay"):
        (error,) = kustomize.load_overlay(tmp_path / directory).errors
        assert (error.path, error.line) == (_shown(tmp_path / "base" / "kustomization.yaml"), 3)
        assert error.message.startswith("invalid kustomization: ")


@pytest.mark.integration
def test_nested_render_error_is_reduced_to_its_cause(tmp_path: Path) -> None:
    doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"
    _write(tmp_path / "base" / "a.yaml", f"{doc}---\n{doc}")
    _write(tmp_path / "base" / "kustomization.yaml", "resources: [a.yaml]\n")
    (error,) = kustomize.load_overlay(tmp_path / "base").errors
    assert error.message == ("kustomize render failed: a.yaml: may not add resource with an already registered id: "
                             "ConfigMap.v1.[noGrp]/a.[noNs]")


@pytest.mark.integration
def test_more_transformers(tmp_path: Path) -> None:
    _write(tmp_path / "base" / "kustomization.yaml", "resources: [deploy.yaml]\n")
    _write(tmp_path / "base" / "deploy.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n"
           "  selector:\n    matchLabels:\n      app: api\n  template:\n    metadata:\n      labels:\n        app: api\n"
           "    spec:\n      initContainers:\n        - name: init\n          image: busybox:1.36\n"
           "      containers:\n        - name: api\n          image: example/api:1.0\n")
    _write(tmp_path / "env" / "kustomization.yaml",
           "resources: [../base]\nnameSuffix: -blue\ncommonAnnotations:\n  owner: team-a\n"
           "labels:\n  - pairs:\n      tier: web\n    includeSelectors: true\n"
           "  - pairs:\n      env: dev\n    includeTemplates: true\n"
           "images:\n  - name: example/api\n    newName: registry.example.com/api\n"
           "  - name: busybox\n    digest: sha256:0000000000000000000000000000000000000000000000000000000000000000\n")
    (deploy,) = kustomize.load_overlay(tmp_path / "env").resources
    kfile = tmp_path / "env" / "kustomization.yaml"

    def where(*path: str | int) -> tuple[str, int]:
        return _where(deploy, path)

    assert deploy.name == "api-blue" and where("metadata", "name") == (_shown(kfile), _line(kfile, "nameSuffix"))
    assert where("metadata", "annotations", "owner") == (_shown(kfile), _line(kfile, "owner: team-a"))
    assert where("spec", "selector", "matchLabels", "tier") == (_shown(kfile), _line(kfile, "tier: web"))
    assert where("spec", "template", "metadata", "labels", "env") == (_shown(kfile), _line(kfile, "env: dev"))
    assert "env" not in deploy.obj["spec"]["selector"]["matchLabels"]
    assert where("spec", "template", "spec", "containers", 0, "image") == (_shown(kfile), _line(kfile, "newName:"))
    assert where("spec", "template", "spec", "initContainers", 0, "image") == (_shown(kfile), _line(kfile, "digest:"))


def test_discover_lists_every_kustomization_that_is_not_an_overlay(tmp_path: Path) -> None:
    _write(tmp_path / "base" / "kustomization.yaml", "resources: [deploy.yaml]\n")
    _write(tmp_path / "comp" / "kustomization.yaml", "kind: Component\n")
    _write(tmp_path / "unused" / "kustomization.yaml", "kind: Component\nresources: [../overlays/a]\n")
    _write(tmp_path / "overlays" / "a" / "kustomization.yaml", "resources: [../../base, ../a]\ncomponents: [../../comp]\n")
    _write(tmp_path / "cycle" / "x" / "kustomization.yaml", "resources: [../y]\n")
    _write(tmp_path / "cycle" / "y" / "kustomization.yaml", "resources: [../x]\n")
    _write(tmp_path / "bad" / "kustomization.yaml", "resources: ../base\n")
    found = kustomize.discover(tmp_path)
    # a self-reference and an unused Component do not hide `a`; a cycle that nothing builds is scanned in full
    assert found.overlays == [tmp_path / "cycle" / "x", tmp_path / "cycle" / "y", tmp_path / "overlays" / "a"]
    reasons = {Path(s.path).parent.name: s.reason for s in found.skipped}
    assert reasons == {"base": f"base of {_shown(tmp_path / 'overlays' / 'a')}",
                       "comp": f"component of {_shown(tmp_path / 'overlays' / 'a')}",
                       "unused": "component (no scanned overlay uses it)",
                       "bad": "broken: line 1: `resources` must be a list"}
    (error,) = found.errors
    assert (error.path, error.line) == (_shown(tmp_path / "bad" / "kustomization.yaml"), 1)


def test_discover_names_the_config_that_leaves_a_kustomization_out(tmp_path: Path) -> None:
    for name in ("dev", "prod"):
        _write(tmp_path / "envs" / name / "kustomization.yaml", "resources: []\n")
    _write(tmp_path / ".kguard.yaml", "overlays: [envs/dev]\n")
    (skipped,) = kustomize.discover(tmp_path).skipped
    config = _shown(tmp_path / ".kguard.yaml")
    assert (skipped.path, skipped.reason) == (_shown(tmp_path / "envs" / "prod" / "kustomization.yaml"),
                                              f"not listed in {config} overlays:")
    _write(tmp_path / ".kguard.yaml", "exclude: ['envs/p*']\n")
    (skipped,) = kustomize.discover(tmp_path).skipped
    assert skipped.reason == f"excluded by {config} exclude: envs/p*"


@pytest.mark.parametrize(("entry", "remote"), [
    ("https://example.com/x.yaml", True), ("http://127.0.0.1:8080/x.yaml", True), ("git::https://h/r.git", True),
    ("git@github.com:org/repo.git", True), ("ssh://git@h/r.git", True), ("github.com/org/repo//dir?ref=v1", True),
    ("gh:org/repo", True), ("example.com/org/repo?ref=main", True), ("file:///etc", True),
    ("../base", False), ("deploy.yaml", False), ("./overlays/dev", False), ("v1.2/config.yaml", True),
])
def test_remote_entries(tmp_path: Path, entry: str, remote: bool) -> None:
    from scanner.load.kustomize.inputs import is_remote

    assert is_remote(entry, tmp_path) is remote
    if entry == "v1.2/config.yaml":  # a dotted first segment is local when it exists
        _write(tmp_path / entry, "{}\n")
        assert not is_remote(entry, tmp_path)


@pytest.mark.integration
def test_precommit_renders_a_staged_broken_kustomization(tmp_path: Path) -> None:
    _write(tmp_path / "ok" / "kustomization.yaml", "resources: []\n")
    _write(tmp_path / "bad" / "kustomization.yaml", "resources: [\n")
    (tmp_path / ".git").mkdir()
    staged = [str(tmp_path / "bad" / "kustomization.yaml")]
    assert kustomize.precommit_overlays(staged, tmp_path) == [str(tmp_path / "bad")]
    (error,) = kustomize.load_overlay(tmp_path / "bad").errors
    assert error.path == _shown(tmp_path / "bad" / "kustomization.yaml") and error.line
