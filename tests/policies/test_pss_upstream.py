"""Differential test: kguard's Pod Security verdicts against the upstream library (k8s.io/pod-security-admission).

The reference is tools/reference's kguard-pss-reference, built by scripts/build-reference-tools.sh. Both sides
judge the same files (tests/fixtures/pss_corpus.py); each side becomes a set of (object, level, check), where the
level is the enforce label of the object's namespace, and the sets must be identical.
"""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

from scanner.scan import ScanOptions, scan_paths
from tests.fixtures import pss_corpus
from tests.fixtures.tools import require_tool

pytestmark = pytest.mark.integration

Identity = tuple[str, str, str, str]  # apiVersion, kind, namespace, name
Verdict = tuple[Identity, str, str]  # object, level, check id

LEVEL_OF_NAMESPACE = pss_corpus.level_of_namespace()

# Verdicts the two sides may legitimately disagree on. Keep it empty: the corpus avoids inputs that only an API
# server's defaulting would make meaningful (a volume without a source, which upstream calls "unknown" and the
# server would turn into emptyDir). Add an entry only with a comment naming the reason.
DOCUMENTED_EXCEPTIONS: frozenset[Verdict] = frozenset()


@dataclass(frozen=True)
class UpstreamCheck:
    id: str
    level: str
    overrides: tuple[str, ...]


@dataclass(frozen=True)
class Run:
    directory: Path
    objects: list[pss_corpus.CorpusObject]
    checks: list[UpstreamCheck]
    upstream: dict[tuple[Identity, str], frozenset[str]]  # (object, level) -> failed checks, at both levels

    def failed(self, item: pss_corpus.CorpusObject) -> frozenset[str]:
        """What upstream fails ``item`` for at its namespace's level (nothing at privileged)."""
        return frozenset() if item.level == "privileged" else self.upstream[(item.identity, item.level)]


def _run_reference(tool: Path, args: list[str]) -> list[dict]:
    done = subprocess.run([str(tool), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"kguard-pss-reference failed ({done.returncode}): {done.stderr.strip()}"
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    tool = require_tool("kguard-pss-reference")
    directory = tmp_path_factory.mktemp("pss-corpus")
    paths = pss_corpus.write_corpus(directory)
    checks = [UpstreamCheck(c["id"], c["level"], tuple(c["overrides"])) for c in _run_reference(tool, ["--list-checks"])]
    upstream: dict[tuple[Identity, str], frozenset[str]] = {}
    for line in _run_reference(tool, [str(p) for p in paths]):
        identity = (line["apiVersion"], line["kind"], line["namespace"], line["name"])
        if "skipped" in line:
            assert line["kind"] == "Namespace", f"upstream found no pod spec in {identity}: {line['skipped']}"
            continue
        upstream[(identity, line["level"])] = frozenset(line["failed_checks"])
    return Run(directory=directory, objects=pss_corpus.corpus(), checks=checks, upstream=upstream)


def _levels_running(check: UpstreamCheck, checks: list[UpstreamCheck]) -> set[str]:
    """The levels at which upstream runs ``check`` (a baseline check overridden at restricted runs at baseline;
    none runs at privileged)."""
    if check.level == "restricted":
        return {"restricted"}
    overridden = {o for c in checks if c.level == "restricted" for o in c.overrides}
    return {"baseline"} if check.id in overridden else {"baseline", "restricted"}


def _upstream_verdicts(run: Run) -> set[Verdict]:
    return {(item.identity, item.level, check) for item in run.objects for check in run.failed(item)}


def _kguard_verdicts(run: Run) -> set[Verdict]:
    result = scan_paths([str(run.directory)], ScanOptions(select=["pss-*"], analyses=False))
    assert not result.input_errors, result.input_errors
    assert not result.policy_errors, result.policy_errors
    rules = {rule.id: rule for rule in result.rules}
    verdicts = set()
    for finding in result.findings:
        rule = rules[finding.rule_id]
        assert rule.pss_check, f"{finding.rule_id} has no pss.check attribution"
        res = finding.resource
        level = LEVEL_OF_NAMESPACE[res.namespace or ""]
        for check in rule.pss_check:
            verdicts.add(((res.api_version, res.kind, res.namespace or "", res.name), level, check))
    return verdicts


def _describe(title: str, verdicts: set[Verdict]) -> list[str]:
    """One line per (check, level, kind) group with its size and the first object."""
    groups: dict[tuple[str, str, str], list[Verdict]] = defaultdict(list)
    for verdict in sorted(verdicts):
        (_, kind, _, _), level, check = verdict
        groups[(check, level, kind)].append(verdict)
    lines = [f"{title}: {len(verdicts)}"]
    for (check, level, kind), members in sorted(groups.items()):
        (_, _, namespace, name), _, _ = members[0]
        lines.append(f"  {check} at {level} on {kind}: {len(members)} (e.g. {namespace}/{name})")
    return lines


def test_kguard_matches_upstream_pod_security(run: Run) -> None:
    upstream = _upstream_verdicts(run) - DOCUMENTED_EXCEPTIONS
    kguard = _kguard_verdicts(run) - DOCUMENTED_EXCEPTIONS
    if upstream != kguard:
        report = [f"kguard and upstream Pod Security disagree ({len(upstream & kguard)} verdicts agree)",
                  *_describe("upstream fails, kguard does not (missed)", upstream - kguard),
                  *_describe("kguard fails, upstream does not (false positive)", kguard - upstream)]
        pytest.fail("\n".join(report), pytrace=False)


def test_kguard_attributes_every_upstream_check(run: Run) -> None:
    """Every upstream check has a kguard rule with the same level and overrides, and no rule names an unknown one."""
    result = scan_paths([str(run.directory / "namespaces.yaml")], ScanOptions(select=["pss-*"], analyses=False))
    kguard = {check: rule for rule in result.rules for check in rule.pss_check}
    upstream = {c.id: c for c in run.checks}
    assert sorted(kguard) == sorted(upstream)
    for check_id, check in upstream.items():
        rule = kguard[check_id]
        assert (rule.pss_level, sorted(rule.pss_overrides)) == (check.level, sorted(check.overrides)), rule.id


def test_corpus_fails_every_check_at_every_level_it_runs(run: Run) -> None:
    failed = {(item.level, check) for item in run.objects for check in run.failed(item)}
    missing = sorted((level, c.id) for c in run.checks for level in _levels_running(c, run.checks)
                     if (level, c.id) not in failed)
    assert not missing, f"no corpus object fails these (level, check) pairs upstream: {missing}"


def test_corpus_intentions_hold_upstream(run: Run) -> None:
    """Each case fails the checks it names in `fails` and passes those in `passes`, wherever upstream runs them."""
    checks = {c.id: c for c in run.checks}
    named = {check for case in pss_corpus.cases() for check in case.fails | case.passes}
    assert named <= set(checks), f"cases name unknown checks: {sorted(named - set(checks))}"
    wrong = []
    for item in run.objects:
        failed = run.failed(item)
        for check in item.case.fails | item.case.passes:
            if item.level not in _levels_running(checks[check], run.checks):
                continue
            if (check in failed) != (check in item.case.fails):
                wrong.append(f"{item.identity[1]} {item.identity[3]} at {item.level}: {check} "
                             f"{'passes' if check in item.case.fails else 'fails'} upstream")
    assert not wrong, "\n".join(wrong[:40])


def test_corpus_passes_every_check_on_purpose(run: Run) -> None:
    """Every check has cases meant to pass it and cases meant to fail it, at every level it runs."""
    for check in run.checks:
        for level in _levels_running(check, run.checks):
            objects = [item for item in run.objects if item.level == level]
            assert any(check.id in item.case.passes for item in objects), f"no case passes {check.id} at {level}"
            assert any(check.id in item.case.fails for item in objects), f"no case fails {check.id} at {level}"


def test_corpus_covers_every_kind_and_slot(run: Run) -> None:
    kinds = {item.identity[1] for item in run.objects}
    assert kinds == {kind for _, kind in pss_corpus.ALL_KINDS}
    specs = [item.case.spec for item in run.objects]
    for key in ("initContainers", "ephemeralContainers", "hostUsers", "os"):
        assert any(key in spec for spec in specs), key
    assert {item.level for item in run.objects} == {"baseline", "restricted", "privileged"}
    assert len({item.identity for item in run.objects}) == len(run.objects) == len(run.upstream) // 2
