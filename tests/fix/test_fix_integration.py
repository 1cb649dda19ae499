"""`kguard fix` end to end on copies of real layouts, checked with the real tools: upstream Pod Security
(kguard-pss-reference), `kubectl kustomize`, git and the SARIF Multitool."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.objects import WEB_DEPLOYMENT
from tests.fixtures.tools import require_tool

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
KGUARD = [sys.executable, "-m", "scanner"]
OVERLAYS = ("development", "staging", "production")

PLAIN = """\
# Workloads of the shop namespace (restricted).
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    pod-security.kubernetes.io/enforce: restricted
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web   # the storefront
  namespace: shop
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: "nginx:1.27"
        ports:
        - containerPort: 8080
          hostPort: 80
      - name: agent
        image: 'busybox'
        securityContext:
          privileged: true
          capabilities:
            add: [NET_ADMIN]
---
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  namespace: shop
spec:
  template:
    spec:
      restartPolicy: Never
      hostPID: true
      securityContext:
        runAsUser: 0
        seccompProfile: {type: Unconfined}
      containers:
      - name: migrate
        image: migrate:1
      volumes:
      - name: data
        hostPath: {path: /var/lib/data}
"""


def _kguard(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KGUARD, *args], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(cwd),
                               "PYTHONPATH": str(REPO)})


def _upstream(tool: Path, file: Path) -> dict[tuple[str, str], list[str]]:
    done = subprocess.run([str(tool), str(file)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = {}
    for line in map(json.loads, done.stdout.splitlines()):
        if "skipped" not in line and line["level"] == "restricted":
            out[(line["kind"], line["name"])] = line["failed_checks"]
    return out


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def test_plain_file_passes_upstream_restricted_after_unsafe_fix(tmp_path: Path) -> None:
    tool = require_tool("kguard-pss-reference")
    file = tmp_path / "shop.yaml"
    file.write_text(PLAIN, encoding="utf-8")
    assert all(_upstream(tool, file).values()), "the input should fail upstream before the fix"

    safe = _kguard("fix", str(file), "--select", "pss-*", cwd=tmp_path)
    assert safe.returncode == 1, safe.stdout + safe.stderr  # privileged, host namespaces, ... need --unsafe
    assert "rerun with --unsafe" in safe.stdout
    assert "runAsNonRoot = true" in safe.stdout

    done = _kguard("fix", str(file), "--select", "pss-*", "--unsafe", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _upstream(tool, file) == {("Deployment", "web"): [], ("Job", "migrate"): []}
    text = file.read_text(encoding="utf-8")
    for line in PLAIN.splitlines():  # untouched lines stay (comments, flow style, quotes)
        if not any(word in line for word in ("privileged", "hostPort", "hostPID", "runAsUser", "Unconfined",
                                             "add:", "hostPath")):
            assert line in text.splitlines(), line
    again = _kguard("fix", str(file), "--select", "pss-*", "--unsafe", cwd=tmp_path)
    assert again.returncode == 0 and "0 change(s)" in again.stdout


def _repo_copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(REPO / "manifests", root / "manifests")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "copy")
    # break a base shared by the three overlays: api-gateway (a Rollout in staging and production, made so by a
    # JSON6902 patch of a component) and user-service (a Deployment everywhere)
    for service in ("api-gateway", "user-service"):
        file = root / "manifests" / "base" / service / "deployment.yaml"
        text = file.read_text(encoding="utf-8")
        assert "            allowPrivilegeEscalation: false\n" in text
        file.write_text(text.replace("            allowPrivilegeEscalation: false\n", "", 1), encoding="utf-8")
    _git(root, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qam", "broken")
    return root


def _renders(root: Path) -> None:
    kubectl = Path(sys.executable).parent / "kubectl"
    for overlay in OVERLAYS:
        done = subprocess.run([str(kubectl), "kustomize", f"manifests/overlays/{overlay}"], cwd=root,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr


def _pss_findings(root: Path) -> str:
    done = _kguard("scan", "--all-overlays", "manifests", "--select", "pss-allow-privilege-escalation",
                   "--format", "json", cwd=root)
    return json.dumps([f["rule_id"] for f in json.loads(done.stdout)["findings"]]) if done.stdout else done.stderr


def test_shared_base_gets_overlay_patches(tmp_path: Path) -> None:
    root = _repo_copy(tmp_path)
    assert "pss-allow-privilege-escalation" in _pss_findings(root)
    done = _kguard("fix", "--all-overlays", "manifests", "--select", "pss-allow-privilege-escalation", cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _pss_findings(root) == "[]"
    _renders(root)
    changed = sorted(_git(root, "status", "--porcelain").splitlines())
    assert changed == [
        " M manifests/overlays/production/kustomization.yaml",
        " M manifests/overlays/staging/kustomization.yaml",
        "?? manifests/overlays/production/kguard-fix-deployment-user-service.yaml",
        "?? manifests/overlays/production/kguard-fix-rollout-api-gateway.yaml",
        "?? manifests/overlays/staging/kguard-fix-deployment-user-service.yaml",
        "?? manifests/overlays/staging/kguard-fix-rollout-api-gateway.yaml",
    ]  # development is held to baseline (its Namespace label): nothing to fix there
    diff = _git(root, "diff", "-U0", "manifests/overlays/staging/kustomization.yaml")
    added = [line for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert all(line.startswith("+  - path: kguard-fix-") or line.startswith("+    ") for line in added), added
    assert not [line for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    rollout_patch = (root / "manifests/overlays/staging/kguard-fix-rollout-api-gateway.yaml").read_text()
    assert "op: add" in rollout_patch  # a custom kind: JSON6902, since a merge patch would replace the containers


def test_in_base_edits_the_base_line_only(tmp_path: Path) -> None:
    root = _repo_copy(tmp_path)
    done = _kguard("fix", "--kustomize", "manifests/overlays/staging", "--in-base", "--select",
                   "pss-allow-privilege-escalation", cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _pss_findings(root) == "[]"
    _renders(root)
    diff = _git(root, "diff", "-U0", "HEAD~1", "--", "manifests")
    # against the unbroken copy only the key's position in its mapping differs: one line out, the same line in
    removed = [line[1:] for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert removed == added == ["            allowPrivilegeEscalation: false"] * 2


def test_diff_writes_nothing_and_sarif_fixes_validate(tmp_path: Path) -> None:
    from tests.report.test_sarif_multitool import _unexpected, require_multitool, validate

    tool = require_multitool()
    file = tmp_path / "shop.yaml"
    file.write_text(PLAIN, encoding="utf-8")
    sarif_file = tmp_path / "fix.sarif"
    done = _kguard("fix", str(file), "--diff", "--sarif", str(sarif_file), cwd=tmp_path)
    assert file.read_text(encoding="utf-8") == PLAIN
    assert done.stdout.startswith("--- a/shop.yaml\n+++ b/shop.yaml\n"), done.stdout + done.stderr
    log = json.loads(sarif_file.read_text(encoding="utf-8"))
    fixes = [r["fixes"][0] for r in log["runs"][0]["results"] if "fixes" in r]
    assert fixes, "no result carries a fix"
    change = fixes[0]["artifactChanges"][0]
    assert change["artifactLocation"]["uri"] == "shop.yaml"
    inserted = "".join(r.get("insertedContent", {}).get("text", "") for r in change["replacements"])
    assert "allowPrivilegeEscalation: false" in inserted
    problems = validate(tool, sarif_file)
    assert not _unexpected(problems)


def test_fields_are_fixed_where_each_layer_sets_them(tmp_path: Path) -> None:
    """tests/fixtures/kustomize/app (prod on dev on base, name prefixes, a component's inline patch, a legacy
    JSON6902 patch file): each field is fixed in the file that sets it; what an inline patch sets gets an overlay
    patch."""
    root = tmp_path / "repo"
    shutil.copytree(REPO / "tests/fixtures/kustomize/app", root / "app")
    ops = root / "app/overlays/prod/worker-image.yaml"
    ops.write_text(ops.read_text(encoding="utf-8") + "- op: add\n  path: /spec/template/spec/containers/0/"
                   "securityContext/capabilities\n  value:\n    add: [NET_ADMIN]\n", encoding="utf-8")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "copy")
    done = _kguard("fix", "--kustomize", "app/overlays/prod", "--unsafe", cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    scan = _kguard("scan", "--kustomize", "app/overlays/prod", "--select", "pss-*,rbac-automount-unused-token",
                   "--format", "json", cwd=root)
    assert json.loads(scan.stdout)["findings"] == []
    kubectl = Path(sys.executable).parent / "kubectl"
    assert subprocess.run([str(kubectl), "kustomize", "app/overlays/prod"], cwd=root, capture_output=True,
                          timeout=300).returncode == 0
    # the JSON6902 op's value, the dev overlay's strategic-merge patch file, the base: edited where they set it
    diff = _git(root, "diff", "-U0", "app/overlays/prod/worker-image.yaml")
    assert diff.endswith("@@ -8 +8,2 @@\n-    add: [NET_ADMIN]\n+    drop:\n+    - ALL\n"), diff
    assert "-            privileged: true\n+            privileged: false" in _git(
        root, "diff", "app/overlays/dev/sidecar-privileged.yaml")
    # hostNetwork comes from the component's inline patch: the overlay gets a patch file of its own
    patch = (root / "app/overlays/prod/kguard-fix-deployment-dev-web.yaml").read_text(encoding="utf-8")
    assert "hostNetwork: false" in patch
    assert "new: " in done.stdout  # the web pod left the host network: the isolation rules now judge it


def test_namespace_without_default_deny_gets_network_policies(tmp_path: Path) -> None:
    root = _repo_copy(tmp_path)
    kust = root / "manifests/infrastructure/network-policies/kustomization.yaml"
    kust.write_text(kust.read_text(encoding="utf-8").replace("  - default-deny.yaml\n", ""), encoding="utf-8")
    _git(root, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qam", "no default deny")
    rules = "seg-namespace-default-deny-ingress,seg-namespace-default-deny-egress"
    done = _kguard("fix", "--kustomize", "manifests/overlays/staging", "--select", rules, cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    scan = _kguard("scan", "--kustomize", "manifests/overlays/staging", "--select", f"{rules},seg-egress-*",
                   "--format", "json", cwd=root)
    assert json.loads(scan.stdout)["findings"] == []  # and the DNS rule is no open egress
    _renders(root)
    assert sorted(_git(root, "status", "--porcelain").splitlines()) == [
        " M manifests/overlays/staging/kustomization.yaml",
        "?? manifests/overlays/staging/kguard-fix-networkpolicies-shop-staging.yaml"]
    policies = (root / "manifests/overlays/staging/kguard-fix-networkpolicies-shop-staging.yaml").read_text()
    assert "name: kguard-default-deny" in policies and "k8s-app: kube-dns" in policies
    assert "name: kguard-allow-user-service-ingress" in policies  # a Service's declared port stays reachable


def test_plain_rollouts_are_fixed_in_place(tmp_path: Path) -> None:
    """Argo Rollouts as plain files (tests/fixtures/rollouts): fixed in place, and the re-scan is clean."""
    for source in sorted((REPO / "tests/fixtures/rollouts").glob("*.yaml")):
        shutil.copy(source, tmp_path / source.name)
    _git(tmp_path, "init", "-q")
    done = _kguard("fix", ".", "--unsafe", "--select", "pss-*", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "privileged = false" in done.stdout and "emptyDir = {}" in done.stdout
    scan = _kguard("scan", ".", "--select", "pss-*", "--format", "json", cwd=tmp_path)
    assert json.loads(scan.stdout)["findings"] == []
    assert "hostPath" not in (tmp_path / "bluegreen-hostpath.yaml").read_text(encoding="utf-8")


AUTOMOUNT = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: reader, namespace: shop}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: ServiceAccount, name: reader, namespace: shop}]
---
apiVersion: v1
kind: Pod
metadata: {name: bound, namespace: shop}
spec:
  serviceAccountName: reader
  containers: [{name: a, image: x}]
---
apiVersion: v1
kind: Pod
metadata: {name: unbound, namespace: shop}
spec:
  containers: [{name: a, image: x}]
"""


def test_automount_is_switched_off_only_where_no_binding_needs_it(tmp_path: Path) -> None:
    (tmp_path / "pods.yaml").write_text(AUTOMOUNT, encoding="utf-8")
    _git(tmp_path, "init", "-q")
    done = _kguard("fix", "pods.yaml", "--select", "rbac-*", cwd=tmp_path)
    assert "Pod shop/unbound: set spec.automountServiceAccountToken = false" in done.stdout, done.stdout
    assert "shop/bound: set" not in done.stdout
    # bindings and roles are never rewritten (narrowing is left to a person)
    text = (tmp_path / "pods.yaml").read_text(encoding="utf-8")
    assert text.count("automountServiceAccountToken: false") == 1
    assert "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}" in text


def test_a_fix_that_breaks_the_render_is_rolled_back(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "base").mkdir(parents=True)
    (root / "overlay").mkdir()
    deployment = ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n"
                  "      hostNetwork: true\n      containers: [{name: a, image: x}]\n")
    (root / "base/deployment.yaml").write_text(deployment, encoding="utf-8")
    (root / "base/kustomization.yaml").write_text("resources: [deployment.yaml]\n", encoding="utf-8")
    overlay = ("resources: [../base]\npatches:\n  - target: {kind: Deployment}\n    patch: |-\n"
               "      - op: test\n        path: /spec/template/spec/hostNetwork\n        value: true\n")
    (root / "overlay/kustomization.yaml").write_text(overlay, encoding="utf-8")
    _git(root, "init", "-q")
    done = _kguard("fix", "--kustomize", "overlay", "--unsafe", "--select", "pss-host-namespaces", cwd=root)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "rolled back" in done.stdout
    assert (root / "base/deployment.yaml").read_text(encoding="utf-8") == deployment
    assert (root / "overlay/kustomization.yaml").read_text(encoding="utf-8") == overlay
    assert sorted(p.name for p in (root / "overlay").iterdir()) == ["kustomization.yaml"]


def test_overlay_sarif_fixes_validate(tmp_path: Path) -> None:
    """Fixes that create an overlay patch and list it in kustomization.yaml, as SARIF, validate too."""
    from tests.report.test_sarif_multitool import _unexpected, require_multitool, validate

    tool = require_multitool()
    root = _repo_copy(tmp_path)
    sarif_file = tmp_path / "fix.sarif"
    _kguard("fix", "--kustomize", "manifests/overlays/staging", "--dry-run", "--sarif", str(sarif_file), cwd=root)
    assert _git(root, "status", "--porcelain") == ""
    log = json.loads(sarif_file.read_text(encoding="utf-8"))
    fixed = [r for r in log["runs"][0]["results"] if "fixes" in r]
    assert {r["ruleId"] for r in fixed} == {"pss-allow-privilege-escalation"}
    for result in fixed:
        fix = result["fixes"][0]
        assert fix["description"]["text"].startswith("kguard fix: set spec.template.spec.containers[0]")
        uris = [c["artifactLocation"]["uri"] for c in fix["artifactChanges"]]
        assert "manifests/overlays/staging/kustomization.yaml" in uris
        assert any(uri.startswith("manifests/overlays/staging/kguard-fix-") for uri in uris)
    assert not _unexpected(validate(tool, sarif_file))


def test_object_without_namespace_is_found_in_its_file(tmp_path: Path) -> None:
    """The scan puts it in `default`; the document does not say so, and is still the one edited (every change)."""
    text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: x\n"
    (tmp_path / "pod.yaml").write_text(text, encoding="utf-8")
    done = _kguard("fix", "pod.yaml", "--select", "pss-*", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "not fixed" not in done.stdout
    fixed = (tmp_path / "pod.yaml").read_text(encoding="utf-8")
    assert fixed.startswith(text) and "namespace" not in fixed


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "pod.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n")
    for args, message in ((["pod.yaml", "--select", "no-such-rule"], "matches no rule"),
                          ([], "nothing to fix"),
                          (["pod.yaml", "--diff", "--dry-run"], "cannot be combined")):
        done = _kguard("fix", *args, cwd=tmp_path)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert done.stderr.count("\n") == 1 and message in done.stderr and "Traceback" not in done.stderr


WORKLOAD_DEPLOYMENT = WEB_DEPLOYMENT
POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: NAME, namespace: shop}\nspec:\n  containers:\n  - name: a\n    image: x\n"


def test_a_symlinked_file_is_not_written_through(tmp_path: Path) -> None:
    """A file that is a symlink is refused, and the files already written in that run are put back."""
    work, outside = tmp_path / "work", tmp_path / "outside"
    work.mkdir()
    outside.mkdir()
    (work / "a.yaml").write_text(POD.replace("NAME", "a"), encoding="utf-8")
    (outside / "b.yaml").write_text(POD.replace("NAME", "b"), encoding="utf-8")
    (work / "link.yaml").symlink_to(outside / "b.yaml")
    done = _kguard("fix", "a.yaml", "link.yaml", "--select", "pss-*", cwd=work)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "link.yaml: cannot write" in done.stdout and "symbolic link" in done.stdout, done.stdout
    assert (outside / "b.yaml").read_text(encoding="utf-8") == POD.replace("NAME", "b")
    assert (work / "a.yaml").read_text(encoding="utf-8") == POD.replace("NAME", "a")


def test_a_planted_patch_file_symlink_is_neither_read_nor_written(tmp_path: Path) -> None:
    """`kguard-fix-*.yaml` planted as a (dangling) symlink out of the repository: that overlay is not fixed."""
    root, outside = tmp_path / "repo", tmp_path / "outside"
    for directory in (root / "base", root / "overlays/a", root / "overlays/b", outside):
        directory.mkdir(parents=True)
    (root / "base/deployment.yaml").write_text(WORKLOAD_DEPLOYMENT, encoding="utf-8")
    (root / "base/kustomization.yaml").write_text("resources: [deployment.yaml]\n", encoding="utf-8")
    for overlay in ("a", "b"):
        (root / f"overlays/{overlay}/kustomization.yaml").write_text("resources: [../../base]\n", encoding="utf-8")
    (root / "overlays/a/kguard-fix-deployment-web.yaml").symlink_to(outside / "planted.yaml")
    _git(root, "init", "-q")
    done = _kguard("fix", "--all-overlays", ".", "--select", "pss-allow-privilege-escalation", cwd=root)
    assert "kguard-fix-deployment-web.yaml is a symbolic link" in done.stdout, done.stdout + done.stderr
    assert list(outside.iterdir()) == []
    assert (root / "overlays/a/kguard-fix-deployment-web.yaml").is_symlink()
    assert (root / "overlays/a/kustomization.yaml").read_text(encoding="utf-8") == "resources: [../../base]\n"
    assert (root / "overlays/b/kguard-fix-deployment-web.yaml").is_file()  # the other overlay is still fixed
