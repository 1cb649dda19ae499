"""Differential test: `kguard scan` must report exactly what `gator test` reports with the generated gatekeeper/.

The corpus (tests/fixtures/gatekeeper_corpus.py) is written to files, then
- `gator test -f <corpus> -f gatekeeper/ -o json` (gator v3.23.1: every input object is reviewed and also synced into
  `data.inventory`; Namespaces in the input are attached to the objects they contain),
- `kguard scan <corpus> --format json --no-analyses --policy-dir policies` (what gatekeeper/ is generated from),
and the multisets of (constraint, enforcement action, object apiVersion/kind/namespace/name, message) are compared.
See docs/differential-testing.md for what is compared and which differences are by design.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures import gatekeeper_corpus as gc
from tests.fixtures.tools import require_tool

REPO = Path(__file__).resolve().parents[2]
GATEKEEPER_DIR = REPO / "gatekeeper"
TARGET = "admission.k8s.gatekeeper.sh"
GATOR_TIMEOUT = 600
MIN_GATOR_VIOLATIONS = 500  # the corpus gives ~950 today; far fewer means the corpus or the policies rotted
MIN_CONSTRAINTS = 30  # of the 39 constraints, at least this many must report something
SHOWN_PER_SIDE = 40

# (constraint "Kind/name", enforcement action, apiVersion, kind, namespace, name, message)
Key = tuple[str, str, str, str, str, str, str]

pytestmark = pytest.mark.integration


# -- running both sides ------------------------------------------------------------------------------------------


def run_gator(*inputs: Path) -> list[dict[str, Any]]:
    """`gator test -o json` on ``inputs``; the results of the Gatekeeper admission target."""
    gator = require_tool("gator")
    args = [str(gator), "test", "-o", "json"]
    for path in inputs:
        args += ["-f", str(path)]
    # stdin must not be a pipe: gator test would read it as one more input
    proc = subprocess.run(args, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=GATOR_TIMEOUT)
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        pytest.fail(f"gator test failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}", pytrace=False)
    results = json.loads(proc.stdout) or []
    return [r for r in results if r.get("target", TARGET) == TARGET]


def run_kguard(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None) -> dict[str, Any]:
    """`kguard scan ... --format json` with the repository's policies/ (what gatekeeper/ is generated from), in
    ``cwd`` (default: the repository root, whose .kguard.yaml applies)."""
    proc = subprocess.run([sys.executable, "-m", "scanner", "scan", *args, "--policy-dir", str(REPO / "policies"),
                           "--format", "json", "--fail-on", "none", "--quiet"], capture_output=True, text=True, cwd=cwd, stdin=subprocess.DEVNULL, timeout=600,
                          env=env)
    if proc.returncode != 0:
        pytest.fail(f"kguard scan {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()[-2000:]}",
                    pytrace=False)
    report = json.loads(proc.stdout)
    errors = report["scan"]["input_errors"] + report["scan"]["policy_errors"]
    assert not errors, f"kguard reported errors: {errors}"
    return report


def build_gatekeeper(out: Path, cwd: Path) -> Path:
    """`kguard gatekeeper build --out OUT` from the repository's policies/, with the `.kguard.yaml` of ``cwd``."""
    proc = subprocess.run([sys.executable, "-m", "scanner", "gatekeeper", "build", "--out", str(out), "--policy-dir",
                           str(REPO / "policies")], capture_output=True, text=True, cwd=cwd, stdin=subprocess.DEVNULL,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out


def gator_keys(results: Iterable[dict[str, Any]]) -> Counter[Key]:
    out: Counter[Key] = Counter()
    for r in results:
        obj, constraint = r["violatingObject"], r["constraint"]
        meta = obj.get("metadata") or {}
        out[(f"{constraint['kind']}/{constraint['metadata']['name']}", r.get("enforcementAction") or "deny",
             obj.get("apiVersion", ""), obj.get("kind", ""), meta.get("namespace") or "", meta.get("name", ""),
             r["msg"])] += 1
    return out


def kguard_keys(report: dict[str, Any]) -> Counter[Key]:
    out: Counter[Key] = Counter()
    for f in report["findings"]:
        res = f["resource"]
        out[(f["constraint"], f["enforcement_action"], res["apiVersion"], res["kind"], res["namespace"] or "",
             res["name"], f["message"])] += 1
    return out


def finding_keys(report: dict[str, Any]) -> Counter[tuple[Any, ...]]:
    """Everything a user sees of a finding, for comparing two kguard runs."""
    out: Counter[tuple[Any, ...]] = Counter()
    for f in report["findings"]:
        loc = f["location"]
        out[(f["rule_id"], f["severity"], f["constraint"], f["enforcement_action"],
             json.dumps(f["resource"], sort_keys=True), f["message"], json.dumps(f["field_path"]),
             loc["path"], loc["line"], loc["column"])] += 1
    return out


def constraint_kinds() -> set[tuple[str, str]]:
    """(API group, kind) pairs that some generated constraint matches."""
    out = set()
    for path in sorted((GATEKEEPER_DIR / "constraints").glob("*.yaml")):
        match = (yaml.safe_load(path.read_text()).get("spec") or {}).get("match") or {}
        out |= {(group, kind) for entry in match.get("kinds") or [] for group in entry.get("apiGroups") or []
                for kind in entry.get("kinds") or []}
    return out


def write_files(directory: Path, files: dict[str, list[dict[str, Any]]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, objs in files.items():
        (directory / name).write_text(gc.dump(objs))
    return directory


# -- reporting a disagreement ------------------------------------------------------------------------------------


def _show(key: tuple[Any, ...], count: int) -> str:
    times = f"{count} x " if count > 1 else ""
    if len(key) == 7:
        constraint, action, api_version, kind, ns, name, message = key
        return f"  {times}{constraint} [{action}] on {api_version} {kind} {ns + '/' if ns else ''}{name}: {message}"
    return f"  {times}{key}"


def describe_difference(left_name: str, left: Counter, right_name: str, right: Counter) -> str:
    """Per-constraint counts of what only one side reports, then the first entries of each side."""
    only_left, only_right = left - right, right - left
    lines = [f"{left_name}: {sum(left.values())}, {right_name}: {sum(right.values())}, "
             f"agreeing: {sum((left & right).values())}, only {left_name}: {sum(only_left.values())}, "
             f"only {right_name}: {sum(only_right.values())}"]
    per_constraint: Counter[tuple[str, str]] = Counter()
    for side, diff in ((left_name, only_left), (right_name, only_right)):
        for key, count in diff.items():
            per_constraint[(side, str(key[0]))] += count
    lines.append("only on one side, by constraint:")
    lines += [f"  {side:>8}  {count:4}  {constraint}" for (side, constraint), count in sorted(per_constraint.items())]
    for side, diff in ((left_name, only_left), (right_name, only_right)):
        entries = sorted(diff.items())
        lines.append(f"only {side} ({sum(diff.values())}), first {min(len(entries), SHOWN_PER_SIDE)}:")
        lines += [_show(key, count) for key, count in entries[:SHOWN_PER_SIDE]]
    return "\n".join(lines)


def stale_note() -> str:
    """A hint when gatekeeper/ is not what policies/ generates (the two sides then run different Rego)."""
    from scanner.mirror import check

    stale = check(REPO / "policies", GATEKEEPER_DIR)
    return f"\nNOTE: gatekeeper/ is stale ({len(stale)} files, e.g. {stale[0]}): run `kguard gatekeeper build`" \
        if stale else ""


def assert_same(left_name: str, left: Counter, right_name: str, right: Counter) -> None:
    if left != right:
        pytest.fail(describe_difference(left_name, left, right_name, right) + stale_note(), pytrace=False)


# -- fixtures ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("gatekeeper-corpus")
    gc.write_corpus(directory)
    return directory


@pytest.fixture(scope="module")
def gator_results(corpus_dir: Path) -> list[dict[str, Any]]:
    return run_gator(corpus_dir, GATEKEEPER_DIR)


@pytest.fixture(scope="module")
def kguard_report(corpus_dir: Path) -> dict[str, Any]:
    return run_kguard(str(corpus_dir), "--no-analyses")


# -- tests -------------------------------------------------------------------------------------------------------


def test_corpus_is_deterministic(tmp_path: Path) -> None:
    first = [p.read_bytes() for p in gc.write_corpus(tmp_path / "a")]
    second = [p.read_bytes() for p in gc.write_corpus(tmp_path / "b")]
    assert first == second
    assert 300 <= gc.object_count() <= 600


def test_corpus_is_meaningful(gator_results: list[dict[str, Any]], kguard_report: dict[str, Any]) -> None:
    """Enough violations of enough constraints, on every workload kind and on both copies of a copied object."""
    keys = gator_keys(gator_results)
    constraints = {key[0] for key in keys}
    assert sum(keys.values()) >= MIN_GATOR_VIOLATIONS, f"gator reports only {sum(keys.values())} violations"
    assert len(constraints) >= MIN_CONSTRAINTS, f"only {len(constraints)} constraints report: {sorted(constraints)}"
    kinds = {(key[2], key[3]) for key in keys}
    matchable = constraint_kinds()
    matched = {k for k in gc.WORKLOAD_KINDS if (k[0].rpartition("/")[0], k[1]) in matchable}
    assert len(matched) >= 10 and matched <= kinds, f"no violation on {sorted(matched - kinds)}"
    assert not (set(gc.WORKLOAD_KINDS) - matched) & kinds, "a kind no constraint matches has violations"
    # both copies of Deployment prod-shop/api are reviewed: privileged in one file, hostPath in the other
    api = {key[0] for key in keys if key[3:6] == ("Deployment", "prod-shop", "api")}
    assert {"KguardPssPrivileged/pss-privileged", "KguardPssHostPathVolumes/pss-host-path-volumes"} <= api or \
        {"KguardPssPrivileged/pss-privileged", "KguardPssRestrictedVolumes/pss-restricted-volumes"} <= api, api
    # one subject, several permission classes: several violations of one constraint at one field
    alice = [key for key in keys if key[0].startswith("KguardRbacBindingDangerousPermissions/")
             and key[5] == "ops" and "alice@example.com" in key[6]]
    assert len(alice) >= 3, alice
    assert kguard_report["findings"], "kguard reports nothing on the corpus"


def test_kguard_reports_exactly_what_gator_reports(gator_results: list[dict[str, Any]],
                                                   kguard_report: dict[str, Any]) -> None:
    assert_same("gator", gator_keys(gator_results), "kguard", kguard_keys(kguard_report))


def test_the_opa_engine_reports_exactly_what_gator_reports(corpus_dir: Path,
                                                          gator_results: list[dict[str, Any]]) -> None:
    """The same comparison with `--engine opa` (a real OPA server started by kguard) instead of regorus."""
    opa = require_tool("opa")
    env = {**os.environ, "PATH": f"{opa.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    report = run_kguard(str(corpus_dir), "--no-analyses", "--engine", "opa", env=env)
    assert_same("gator", gator_keys(gator_results), "kguard-opa", kguard_keys(report))


def test_generated_templates_give_the_default_scan(corpus_dir: Path, kguard_report: dict[str, Any]) -> None:
    """`--templates gatekeeper --no-default-policies` judges like the catalogue it was generated from."""
    from_templates = run_kguard(str(corpus_dir), "--templates", str(GATEKEEPER_DIR), "--no-default-policies",
                                "--no-analyses")
    assert_same("default", finding_keys(kguard_report), "templates", finding_keys(from_templates))


@pytest.mark.parametrize(("name", "objects", "expansion", "pod_template_path"), [
    pytest.param("custom-kind", gc.expansion_corpus, gc.expansion_template, gc.POD_TEMPLATE_PATH, id="custom-kind"),
    pytest.param("deployment", gc.deployment_expansion_corpus, gc.deployment_expansion_template,
                 gc.DEPLOYMENT_TEMPLATE_PATH, id="deployment"),
])
def test_expanded_pods_are_reported_like_gator(tmp_path: Path, name: str, objects, expansion,
                                               pod_template_path: str) -> None:
    """An ExpansionTemplate in gator and --pod-template-path in kguard: implied Pods reported on their parent."""
    corpus_dir = write_files(tmp_path / "corpus", objects())
    expansion_dir = write_files(tmp_path / "expansion", {"expansion.yaml": [expansion()]})
    gator = gator_keys(run_gator(corpus_dir, expansion_dir, GATEKEEPER_DIR))
    assert any(key[6].startswith("[Implied by ") for key in gator), "gator expanded nothing"
    kguard = kguard_keys(run_kguard(str(corpus_dir), "--no-analyses", "--pod-template-path", pod_template_path))
    assert_same("gator less implied repeats", without_implied_repeats(gator), "kguard", kguard)


def without_implied_repeats(keys: Counter[Key]) -> Counter[Key]:
    """gator's violations less the implied-Pod ones that repeat a violation the parent itself reports under the same
    constraint (kguard's one documented merge, issue 10: "only an implied Pod repeating its parent is merged").

    An implied message repeats the parent's when it reads the same once the prefix is dropped and the implied Pod
    (`Pod <ns>/<name>-pod`) is named as the parent (`<Kind> <ns>/<name>`)."""
    out: Counter[Key] = Counter()
    for key, count in keys.items():
        constraint, action, api_version, kind, namespace, name, message = key
        if message.startswith("[Implied by "):
            plain = message.split("] ", 1)[1]
            subject = f"{namespace}/{name}" if namespace else name
            implied_name = f"{name}-pod".lower()  # Gatekeeper lower-cases "<parent>-<kind>"
            implied = f"{namespace}/{implied_name}" if namespace else implied_name
            as_parent = plain.replace(f"Pod {implied}", f"{kind} {subject}")
            if (constraint, action, api_version, kind, namespace, name, as_parent) in keys:
                continue
        out[key] = count
    return out


@pytest.mark.parametrize("settings", [
    {"defaultLevel": "baseline", "exemptions": {"namespaces": ["monitoring", "dev-team-a", "qa-typo"]}},
    {"defaultLevel": "privileged"},
], ids=["baseline-with-exemptions", "privileged"])
def test_pod_security_settings_reach_the_generated_constraints(tmp_path: Path, corpus_dir: Path,
                                                               gator_results: list[dict[str, Any]],
                                                               settings: dict[str, Any]) -> None:
    """`.kguard.yaml` podSecurity settings: gator on what `kguard gatekeeper build` makes of them == kguard scan."""
    (tmp_path / ".kguard.yaml").write_text(yaml.safe_dump({"podSecurity": settings}))
    generated = build_gatekeeper(tmp_path / "gatekeeper", cwd=tmp_path)
    gator = gator_keys(run_gator(corpus_dir, generated))
    assert gator != gator_keys(gator_results), "the settings changed nothing"
    exempt = set(settings.get("exemptions", {}).get("namespaces", []))
    assert not [key for key in gator if key[4] in exempt and key[0].startswith("KguardPss")]
    kguard = kguard_keys(run_kguard(str(corpus_dir), "--no-analyses", cwd=tmp_path))
    assert_same("gator", gator, "kguard", kguard)


def test_undeclared_namespaces_are_judged_as_unlabelled(tmp_path: Path) -> None:
    """gator autorejects objects whose Namespace is not in its input, except in `default`, which it invents without
    labels; kguard judges every such namespace as unlabelled: what gator says once the Namespace is declared so."""
    corpus_dir = write_files(tmp_path / "corpus", gc.missing_namespace_corpus())
    others = tuple(ns for ns in gc.MISSING_NAMESPACES if ns != "default")
    declared_dir = write_files(tmp_path / "declared", gc.unlabelled_namespaces(others))
    bare = gator_keys(run_gator(corpus_dir, GATEKEEPER_DIR))
    autorejected = {key[4] for key in bare if key[6].startswith("unable to match constraints")}
    assert autorejected == set(others)
    declared = gator_keys(r for r in run_gator(corpus_dir, declared_dir, GATEKEEPER_DIR)
                          if r["violatingObject"].get("kind") != "Namespace")
    assert not any(key[6].startswith("unable to match constraints") for key in declared)
    assert_same("gator", declared, "kguard", kguard_keys(run_kguard(str(corpus_dir), "--no-analyses")))
