"""`.kguard.yaml`: the published JSON Schema with file:line errors, the settings every entry point honours
(select/ignore, failOn, severityOverrides, podSecurity, helm, context) and flags that override them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

import scanner.config
from scanner.config import Config, parse_config_text, read_config, split_patterns
from scanner.config_schema import schema_path
from scanner.errors import UsageError
from scanner.model import Severity

REPO = Path(__file__).resolve().parents[1]
PUBLISHED = REPO / "docs" / "json-schema" / "kguard-config-1.json"
PRIVILEGED_POD = """apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
spec:
  hostNetwork: true
  containers:
  - name: app
    image: registry.example/app:1.0
    securityContext:
      privileged: true
"""


def test_the_published_schema_is_valid_and_is_what_kguard_validates_with() -> None:
    schema = json.loads(PUBLISHED.read_text())
    Draft202012Validator.check_schema(schema)
    assert schema_path().resolve() == PUBLISHED.resolve()  # editable install: the published file itself
    assert "docs/json-schema/kguard-config-1.json" in (REPO / "pyproject.toml").read_text()  # bundled in the wheel


def test_the_repository_config_and_the_documented_example_are_valid() -> None:
    assert read_config(REPO).source == ".kguard.yaml"
    example = re.search(r"```yaml\n(.*?)```", scanner.config.__doc__ or "", re.DOTALL)
    assert example is not None
    config = parse_config_text(example.group(1), "example")
    assert config.select == ("pss-*", "rbac") and config.fail_on == "high"
    assert config.severity_overrides == (("rbac-pod-exec", Severity.CRITICAL),)
    assert config.helm.enabled and config.helm.releases[0].namespace == "shop-production"


def test_the_readme_example_is_valid() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("### `.kguard.yaml`"):]
    example = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert example is not None
    config = parse_config_text(example.group(1), "README.md")
    assert config.ignore == ("seg-allow-all-egress",) and config.context == ("manifests",)


@pytest.mark.parametrize(("text", "expected"), [
    ("overlays: [a]\nselct: [pss-*]\n", "cfg.yaml:2: unknown setting `selct`"),
    ("podSecurity:\n  defaultLevel: strict\n", "cfg.yaml:2: `podSecurity.defaultLevel` must be one of privileged, "
                                               "baseline, restricted, not 'strict'"),
    ("helm:\n  enabled: true\n  releases:\n    - name: x\n", "cfg.yaml:4: `helm.releases[0]`: 'chart' is a required"),
    ("helm:\n  enabled: maybe\n", "cfg.yaml:2: `helm.enabled` must be true or false"),
    ("helm:\n  releases:\n    - chart: c\n      values: values.yaml\n", "cfg.yaml:4: `helm.releases[0].values` must "
                                                                        "be a list"),
    ("context: manifests\n", "cfg.yaml:1: `context` must be a list"),
    ("failOn: urgent\n", "cfg.yaml:1: `failOn` must be one of critical, high, medium, low, none"),
    ("select:\n  - pss-*\n  - 3\n", "cfg.yaml:3: `select[1]` must be a string"),
    ("severityOverrides:\n  pss-privileged: low\n  rbac-pod-exec: urgent\n",
     "cfg.yaml:3: `severityOverrides.rbac-pod-exec` must be one of critical, high, medium, low, info"),
    ("podTemplatePaths:\n  - Workflow.argoproj.io=spec.podTemplate\n  - nopath\n",
     "cfg.yaml:3: `podTemplatePaths[1]`: 'nopath' must be KIND=PATH or KIND.GROUP=PATH"),
    ("severityOverrides:\n  pss-privileged: low\n  Bad_Id: low\n",
     "cfg.yaml:3: `severityOverrides.Bad_Id`: 'Bad_Id' must be a rule id"),
    ("suppressions:\n  maxExpiryDays: -1\n", "cfg.yaml:2: `suppressions.maxExpiryDays`: -1 is less than the minimum"),
    ("podSecurity:\n  exemptions:\n    namespaces: [a]\n    labels: {}\n",
     "cfg.yaml:4: unknown setting `podSecurity.exemptions.labels` (known here: namespaces)"),
    ("- a\n", "cfg.yaml:1: `(top level)` must be a mapping"),
    ("a: 1\n---\nb: 2\n", "cfg.yaml:3: one YAML document expected, not 2"),
    ("select: [\n", "cfg.yaml:2: cannot read: invalid YAML"),
])
def test_errors_name_the_file_and_line(text: str, expected: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_config_text(text, "cfg.yaml")
    assert str(caught.value).startswith(expected), str(caught.value)
    assert "\n" not in str(caught.value)



def test_an_alias_bomb_is_an_error_not_a_hang() -> None:
    # nine lines of aliases of aliases: 10**9 nodes once expanded (the manifests' node budget applies here too)
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    with pytest.raises(UsageError, match=r"^cfg.yaml: cannot read: the document expands to more than 250,000 nodes"):
        parse_config_text("\n".join(lines) + "\n", "cfg.yaml")

def test_new_settings_are_typed_and_shown_in_reports_settings() -> None:
    config = parse_config_text("select: ['pss-privileged,rbac', seg-*]\nignore: [rbac-pod-exec]\nfailOn: critical\n"
                               "severityOverrides: {pss-privileged: low}\ncontext: [manifests]\n"
                               "helm: {enabled: true, releases: [{chart: c, namespace: n, values: [v.yaml]}]}\n",
                               ".kguard.yaml")
    assert config.select == ("pss-privileged", "rbac", "seg-*")  # comma lists work in the file too
    shown = config.as_dict()
    assert shown["select"] == ["pss-privileged", "rbac", "seg-*"] and shown["ignore"] == ["rbac-pod-exec"]
    assert shown["failOn"] == "critical" and shown["severityOverrides"] == {"pss-privileged": "low"}
    assert shown["context"] == ["manifests"]
    assert shown["helm"]["releases"] == [{"chart": "c", "name": None, "namespace": "n", "values": ["v.yaml"]}]
    assert Config().as_dict()["failOn"] is None and Config().as_dict()["severityOverrides"] == {}
    assert split_patterns(["a,b", " c ", ",,"]) == ("a", "b", "c")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git work tree with one privileged, host-network Pod."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "pod.yaml").write_text(PRIVILEGED_POD)
    return tmp_path


def kguard(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scanner", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def _scan_json(repo: Path, *args: str) -> tuple[int, dict]:
    run = kguard(repo, "scan", "pod.yaml", "-f", "json", "--no-analyses", *args)
    assert run.returncode in (0, 1), run.stderr
    return run.returncode, json.loads(run.stdout)


def _rules(report: dict) -> set[str]:
    return {f["rule_id"] for f in report["findings"]}


def test_scan_honours_select_ignore_fail_on_and_severity_overrides_and_flags_override_them(repo: Path) -> None:
    (repo / ".kguard.yaml").write_text("select: [pss-privileged, pss-host-namespaces]\nignore: [pss-host-namespaces]\n"
                                       "failOn: none\nseverityOverrides:\n  pss-privileged: low\n")
    code, report = _scan_json(repo)
    assert _rules(report) == {"pss-privileged"} and code == 0  # failOn none
    assert {f["severity"] for f in report["findings"]} == {"low"}
    config = report["settings"]["config"]
    assert config["select"] == ["pss-privileged", "pss-host-namespaces"] and config["failOn"] == "none"
    assert config["severityOverrides"] == {"pss-privileged": "low"}

    code, report = _scan_json(repo, "--select", "pss-host-namespaces,pss-privileged", "--ignore", "pss-privileged",
                              "--fail-on", "low")
    assert _rules(report) == {"pss-host-namespaces"} and code == 1  # the flags' lists replace the file's
    assert report["settings"]["config"]["select"] == ["pss-host-namespaces", "pss-privileged"]  # what ran
    assert report["settings"]["config"]["ignore"] == ["pss-privileged"]

    (repo / ".kguard.yaml").write_text("severityOverrides:\n  pss-no-such-rule: low\n")
    run = kguard(repo, "scan", "pod.yaml", "-q")
    assert run.returncode == 2 and run.stderr.count("\n") == 1
    assert "kguard: error: .kguard.yaml: `severityOverrides` names no rule 'pss-no-such-rule'" in run.stderr

    (repo / ".kguard.yaml").write_text("select: [pss-privilegd]\n")
    run = kguard(repo, "scan", "pod.yaml", "-q")
    assert run.returncode == 2 and ".kguard.yaml `select/ignore` 'pss-privilegd' matches no rule" in run.stderr

    (repo / ".kguard.yaml").write_text("failOn: urgent\n")
    run = kguard(repo, "scan", "pod.yaml", "-q")
    assert run.returncode == 2 and run.stderr.startswith("kguard: error: .kguard.yaml:1: `failOn` must be one of")


def test_precommit_kustomize_honours_the_config_and_its_new_flags(repo: Path) -> None:
    overlay = repo / "deploy"
    overlay.mkdir()
    (overlay / "pod.yaml").write_text(PRIVILEGED_POD)
    (overlay / "kustomization.yaml").write_text("resources: [pod.yaml]\n")
    (repo / ".kguard.yaml").write_text("select: [pss-host-namespaces]\nfailOn: critical\n")
    run = kguard(repo, "precommit-kustomize", "deploy/pod.yaml")
    assert run.returncode == 0, run.stderr  # pss-host-namespaces is high: below the configured failOn
    assert "pss-host-namespaces" in run.stdout and "pss-privileged" not in run.stdout

    run = kguard(repo, "precommit-kustomize", "deploy/pod.yaml", "-q", "--select", "pss-privileged,pss-host-*")
    assert run.returncode == 1, run.stderr  # pss-privileged is critical
    assert "critical pss-privileged" in run.stdout  # -q: only what fails (the file's failOn: critical)

    run = kguard(repo, "precommit-kustomize", "deploy/pod.yaml", "-q", "--select", "pss-privileged",
                 "--pss-level", "privileged", "--fail-on", "low")
    assert run.returncode == 0 and run.stdout == ""  # a privileged namespace level: nothing applies



WIDGET = """apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
  namespace: shop
spec:
  template:
    spec:
      containers:
      - name: app
        image: registry.example/app:1.0
        securityContext:
          privileged: true
"""


def test_pod_template_paths_reach_every_entry_point_and_the_settings(repo: Path) -> None:
    overlay = repo / "deploy"
    overlay.mkdir()
    (overlay / "widget.yaml").write_text(WIDGET)
    (overlay / "kustomization.yaml").write_text("resources: [widget.yaml]\n")
    run = kguard(repo, "precommit-kustomize", "deploy/widget.yaml", "--select", "pss-privileged")
    assert run.returncode == 0, run.stderr  # not a known workload kind: listed as not evaluated
    assert "not a workload kind" in " ".join(run.stdout.split())
    (repo / ".kguard.yaml").write_text("podTemplatePaths: [Widget=spec.template]\n")
    run = kguard(repo, "precommit-kustomize", "deploy/widget.yaml", "--select", "pss-privileged", "-q")
    assert run.returncode == 1, run.stderr
    assert "critical pss-privileged" in run.stdout
    run = kguard(repo, "scan", "deploy/widget.yaml", "-f", "json", "--select", "pss-privileged",
                 "--pod-template-path", "Gadget=spec.template")
    assert run.returncode == 1, run.stderr
    report = json.loads(run.stdout)
    assert _rules(report) == {"pss-privileged"} and len(report["findings"]) == 1  # the file's entry, once
    assert report["settings"]["config"]["podTemplatePaths"] == ["Widget=spec.template", "Gadget=spec.template"]

def test_gatekeeper_build_honours_the_config(repo: Path) -> None:
    (repo / ".kguard.yaml").write_text("ignore: [rbac]\nseverityOverrides: {pss-privileged: medium}\n"
                                       "podSecurity: {exemptions: {namespaces: [kube-system]}}\n")
    run = kguard(repo, "gatekeeper", "build", "--out", "gk", "--policy-dir", str(REPO / "policies"))
    assert run.returncode == 0, run.stderr
    templates = {p.name for p in (repo / "gk" / "templates").iterdir()}
    assert "kguardpssprivileged.yaml" in templates and not [t for t in templates if t.startswith("kguardrbac")]
    privileged = yaml.safe_load((repo / "gk" / "templates" / "kguardpssprivileged.yaml").read_text())
    assert privileged["metadata"]["annotations"]["kguard.io/severity"] == "medium"
    constraint = yaml.safe_load((repo / "gk" / "constraints" / "kguardpssprivileged.yaml").read_text())
    assert constraint["spec"]["match"]["excludedNamespaces"] == ["kube-system"]
    check = kguard(repo, "gatekeeper", "build", "--out", "gk", "--policy-dir", str(REPO / "policies"), "--check")
    assert check.returncode == 0, check.stderr
    (repo / ".kguard.yaml").write_text("ignore: [seg]\n")  # another configuration: the mirror is out of date
    check = kguard(repo, "gatekeeper", "build", "--out", "gk", "--policy-dir", str(REPO / "policies"), "--check")
    assert check.returncode == 1 and "kguardrbacwildcardpermissions.yaml" in check.stderr


@pytest.mark.parametrize("name", ["*", "kube-*", "Kube-System", ""])
def test_pod_security_exemptions_are_exact_namespace_names(tmp_path, name):
    """A Gatekeeper glob in an exemption would exempt far more than upstream's exact names: refused, with the line."""
    (tmp_path / ".kguard.yaml").write_text(f"podSecurity:\n  exemptions:\n    namespaces: [kube-system, {name!r}]\n")
    with pytest.raises(UsageError, match=r"\.kguard\.yaml:3"):
        read_config(tmp_path)


# -- the schema verdict in the user cache (the pre-commit hook reads .kguard.yaml on every commit) -----------------

VALID = "exclude: [tests]\nfailOn: high\npodSecurity:\n  defaultLevel: baseline\n"
JSONSCHEMA_LOADED = """
import sys
from pathlib import Path
from scanner.config import read_config
print(read_config(Path(sys.argv[1])).pod_security.default_level, "jsonschema" in sys.modules)
"""


def test_a_file_that_passed_the_schema_is_not_validated_again(tmp_path: Path) -> None:
    (tmp_path / ".kguard.yaml").write_text(VALID)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}

    def read() -> str:
        return subprocess.run([sys.executable, "-c", JSONSCHEMA_LOADED, str(tmp_path)], env=env, capture_output=True,
                              text=True, timeout=120, check=True).stdout

    assert read() == "baseline True\n"  # validated, and the verdict remembered
    assert read() == "baseline False\n"  # the same text: jsonschema is not even imported
    (tmp_path / ".kguard.yaml").write_text(VALID + "#\n")
    assert read() == "baseline True\n"  # any other text is validated


def test_a_remembered_verdict_covers_only_its_exact_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert parse_config_text(VALID, "cfg.yaml").pod_security.default_level == "baseline"
    assert list((tmp_path / "cache").rglob("*"))  # remembered
    with pytest.raises(UsageError, match=r"^cfg.yaml:5: unknown setting `selct`"):
        parse_config_text(VALID + "selct: [pss-*]\n", "cfg.yaml")
    with pytest.raises(UsageError, match=r"^cfg.yaml:4: `podSecurity.defaultLevel` must be one of"):
        parse_config_text(VALID.replace("baseline", "strict"), "cfg.yaml")


def test_an_unusable_user_cache_still_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "file").write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    assert parse_config_text(VALID, "cfg.yaml").fail_on == "high"
    with pytest.raises(UsageError, match=r"^cfg.yaml:5: unknown setting `selct`"):
        parse_config_text(VALID + "selct: [pss-*]\n", "cfg.yaml")
