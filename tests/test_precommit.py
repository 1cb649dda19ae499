"""The hooks in .pre-commit-hooks.yaml, run by the real pre-commit framework (`pre-commit try-repo`) in a temporary
git repository: a bad manifest blocks, a good one passes, and kguard-kustomize blocks a bad overlay change with
the patch's line. (That an unrelated file renders nothing is tested without the framework in
tests/load/test_kustomize_cli.py; every try-repo installs kguard into a fresh virtualenv, so they are few.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.fixtures.git import git

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "kustomize"
TIMEOUT = 900  # each try-repo builds a fresh virtualenv with kguard in it

BAD_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: bad
spec:
  containers:
    - name: app
      image: registry.example.com/app:1.0.0
      securityContext:
        privileged: true
"""

GOOD_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: good
spec:
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    seccompProfile:
      type: RuntimeDefault
  containers:
    - name: app
      image: registry.example.com/app:1.0.0
      securityContext:
        allowPrivilegeEscalation: false
        capabilities:
          drop: [ALL]
"""


def _pre_commit() -> str:
    tool = Path(sys.executable).parent / "pre-commit"
    found = str(tool) if tool.is_file() else shutil.which("pre-commit")
    assert found, "pre-commit is missing: pip install pre-commit"
    return found


def _git_repo(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True)
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    return path


def _head() -> str:
    """The committed state: try-repo of a dirty tree would snapshot other people's half-made edits too."""
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, check=True, capture_output=True,
                          text=True).stdout.strip()


def _try_repo(cwd: Path, hook: str, *files: str, verbose: bool = False) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRE_COMMIT", "VIRTUAL_ENV"))}
    env["COLUMNS"] = "200"
    flags = ["--verbose"] if verbose else []
    return subprocess.Popen([_pre_commit(), "try-repo", str(REPO), hook, "--ref", _head(), *flags, "--files", *files], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_hook_definitions() -> None:
    hooks = {h["id"]: h for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    assert hooks["kguard"]["entry"] == "kguard scan --fail-on high"
    assert hooks["kguard"]["pass_filenames"] is True and hooks["kguard"]["types_or"] == ["yaml", "json"]
    assert hooks["kguard-kustomize"]["entry"].startswith("kguard precommit-kustomize")
    assert all(h["language"] == "python" for h in hooks.values())


@pytest.mark.integration
def test_try_repo_blocks_bad_and_passes_good(tmp_path: Path) -> None:
    plain = _git_repo(tmp_path / "plain", {"bad.yaml": BAD_POD, "good.yaml": GOOD_POD})
    app = _git_repo(tmp_path / "kustomize", {})
    shutil.copytree(FIXTURES / "app", app / "app")
    subprocess.run(["git", "add", "-A"], cwd=app, check=True)
    runs = {  # started together: every try-repo installs kguard into its own fresh virtualenv
        "bad": _try_repo(plain, "kguard", "bad.yaml"),
        "good": _try_repo(plain, "kguard", "good.yaml"),
        "overlay": _try_repo(app, "kguard-kustomize", "app/overlays/dev/sidecar-privileged.yaml"),
    }
    out = {name: proc.communicate(timeout=TIMEOUT)[0] for name, proc in runs.items()}
    codes = {name: proc.returncode for name, proc in runs.items()}
    assert codes["bad"] == 1, out["bad"]
    assert "Failed" in out["bad"] and "bad.yaml:10" in out["bad"]  # privileged: true is on line 10
    assert codes["good"] == 0 and "Passed" in out["good"], out["good"]
    assert codes["overlay"] == 1, out["overlay"]
    assert "app/overlays/dev/sidecar-privileged.yaml:11:" in "".join(out["overlay"].split())  # rich may wrap


CHART_TEMPLATE = """\
apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-web
spec:
  containers:
    - name: web
      image: registry.example.com/web:1.0.0
      securityContext:
        privileged: {{ .Values.privileged }}
"""
ISOLATED = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny
  namespace: shop
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
"""


def _workload(name: str, namespace: str) -> str:
    return (f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {namespace}\n"
            "spec:\n  selector:\n    matchLabels: {app: " + name + "}\n  template:\n    metadata:\n"
            "      labels: {app: " + name + "}\n    spec:\n      containers:\n        - name: app\n"
            "          image: registry.example.com/app:1.0.0\n")


@pytest.mark.integration
def test_try_repo_renders_staged_chart_templates_and_loads_context(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fixtures.tools import require_tool

    helm = require_tool("helm")  # scripts/install-tools.sh builds it: missing is a failure, not a skip
    monkeypatch.setenv("PATH", f"{helm.parent}{os.pathsep}{os.environ['PATH']}")
    charts = _git_repo(tmp_path / "chart", {
        ".kguard.yaml": "helm: {enabled: true}\n",
        "chart/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
        "chart/values.yaml": "privileged: true\n",
        "chart/templates/pod.yaml": CHART_TEMPLATE,
    })
    context = _git_repo(tmp_path / "context", {
        "deploy/policies.yaml": ISOLATED,
        "deploy/web.yaml": _workload("web", "shop"),
        "deploy/lonely.yaml": _workload("lonely", "elsewhere"),
    })
    runs = {
        "plain": _try_repo(charts, "kguard", "chart/templates/pod.yaml"),
        "kustomize": _try_repo(charts, "kguard-kustomize", "chart/templates/pod.yaml"),
        "context": _try_repo(context, "kguard", "deploy/web.yaml", "deploy/lonely.yaml", verbose=True),
    }
    out = {name: proc.communicate(timeout=TIMEOUT)[0] for name, proc in runs.items()}
    codes = {name: proc.returncode for name, proc in runs.items()}
    for name in ("plain", "kustomize"):
        flat = "".join(out[name].split())
        assert codes[name] == 1, out[name]
        assert "invalidYAML" not in flat and "chart/templates/pod.yaml:10" in flat, out[name]  # privileged: line 10
    assert codes["context"] == 0, out["context"]  # medium and low findings only
    # the NetworkPolicy in the committed, unstaged deploy/policies.yaml isolates shop/web; nothing isolates lonely
    block = out["context"].split("seg-workload-ingress-isolation", 1)[-1].split("\n\n", 1)[0]
    assert "elsewhere/lonely" in block and "shop/web" not in block, out["context"]
