"""Inline `kguard.io/ignore` suppressions and baseline files, through real scans with small test templates."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest

from scanner import suppress
from scanner.errors import UsageError
from scanner.model import ScanResult, Severity
from scanner.scan import ScanOptions, scan_paths

TEMPLATES = Path(__file__).resolve().parent / "fixtures" / "kustomize" / "templates"
HIGH = Severity.HIGH
OPTIONS = ScanOptions(template_dirs=[str(TEMPLATES)], default_policies=False, workers=1)

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
{annotations}spec:
  replicas: 5
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      hostNetwork: true
      containers:
        - name: web
          image: nginx:latest
          securityContext:
            privileged: true
"""


def _manifest(tmp_path: Path, annotation: str | None, name: str = "web") -> Path:
    block = ""
    if annotation is not None:
        body = "\n".join(f"      {line}" for line in annotation.splitlines())
        block = f"  annotations:\n    kguard.io/ignore: |\n{body}\n"
    path = tmp_path / f"{name}.yaml"
    path.write_text(DEPLOYMENT.format(name=name, annotations=block))
    return path


def _by_rule(result: ScanResult) -> dict[str, object]:
    return {f.rule_id: f for f in result.findings}


def test_parse_grammar() -> None:
    entries = suppress.parse_ignore(
        "# vendor chart\n"
        "test-privileged, test-host-*: node agent, needs the host; expires=2030-01-31; owner=@platform\n"
        "\n"
        "test-max-replicas: load test\n")
    assert entries[0].rules == ("test-privileged", "test-host-*")
    assert entries[0].reason == "node agent, needs the host"
    assert entries[0].expires == dt.date(2030, 1, 31) and entries[0].owner == "@platform"
    assert entries[0].covers("test-host-network") and not entries[0].covers("test-max-replicas")
    assert entries[1].reason == "load test" and entries[1].expires is None


@pytest.mark.parametrize(("value", "problem"), [
    ("test-privileged", "expected '<rule-id>: <reason>'"),
    ("test-privileged:", "no reason"),
    ("test-privileged:   ; owner=@x", "no reason"),
    ("test-privileged: expires=2030-01-01", "no reason"),
    ("test-privileged: why; expires=tomorrow", "not a date"),
    ("test-privileged: why; until=2030-01-01", "unknown or repeated option"),
    ("bad rule!: why", "not a rule id"),
    ("", "empty value"),
])
def test_parse_rejects(value: str, problem: str) -> None:
    with pytest.raises(suppress.SuppressionSyntaxError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        suppress.parse_ignore(value)


def test_inline_suppression_marks_but_keeps_findings(tmp_path: Path) -> None:
    plain = scan_paths([str(_manifest(tmp_path, None, name="plain"))], OPTIONS)
    expires = (dt.date.today() + dt.timedelta(days=90)).isoformat()
    path = _manifest(tmp_path, f"test-privileged: vendor image needs it; owner=@platform; expires={expires}")
    result = scan_paths([str(path)], OPTIONS)
    assert len(result.findings) == len(plain.findings) == 4
    privileged = _by_rule(result)["test-privileged"]
    assert privileged.suppression is not None
    assert (privileged.suppression.kind, privileged.suppression.justification) == ("inSource",
                                                                                   "vendor image needs it")
    assert privileged.suppression.owner == "@platform" and privileged.suppression.expires == expires
    assert {f.rule_id for f in result.findings if not f.suppressed} == {
        "test-host-network", "test-latest-tag", "test-max-replicas"}
    assert plain.exit_code(HIGH) == 1


def test_suppressing_every_high_finding_clears_the_exit_code(tmp_path: Path) -> None:
    path = _manifest(tmp_path, "test-privileged, test-host-network: debug pod for the incident")
    result = scan_paths([str(path)], OPTIONS)
    assert result.exit_code(HIGH) == 0
    assert sum(f.suppressed for f in result.findings) == 2


def test_expired_suppression_stops_suppressing_and_says_so(tmp_path: Path) -> None:
    path = _manifest(tmp_path, "test-privileged: temporary workaround; expires=2020-01-01; owner=@alice")
    result = scan_paths([str(path)], OPTIONS)
    privileged = _by_rule(result)["test-privileged"]
    assert privileged.suppression is None
    assert "expired on 2020-01-01" in privileged.message and "@alice" in privileged.message
    assert result.exit_code(HIGH) == 1


def test_expiry_day_itself_still_suppresses(tmp_path: Path) -> None:
    from scanner.engine.review import apply_default_namespace
    from scanner.load.files import load_paths

    path = _manifest(tmp_path, "test-privileged: temporary workaround; expires=2030-06-01")
    resources = load_paths([str(path)]).resources
    apply_default_namespace(resources, "default")  # as scan_resources does before evaluating
    raw = [dataclasses.replace(f, suppression=None) for f in scan_paths([str(path)], OPTIONS).findings]
    on_day, _ = suppress.apply_inline(raw, resources, today=dt.date(2030, 6, 1))
    after, _ = suppress.apply_inline(raw, resources, today=dt.date(2030, 6, 2))
    assert [f.rule_id for f in on_day if f.suppressed] == ["test-privileged"]
    assert not any(f.suppressed for f in after)


def test_suppression_without_reason_is_an_input_error_with_line(tmp_path: Path) -> None:
    path = _manifest(tmp_path, "test-privileged")
    result = scan_paths([str(path)], OPTIONS)
    (error,) = result.input_errors
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "kguard.io/ignore" in text)
    assert error.line == line and error.path.endswith("web.yaml")
    assert "kguard.io/ignore" in error.message and "reason" in error.message
    assert not any(f.suppressed for f in result.findings)
    assert result.exit_code(HIGH) == 2


def test_baseline_roundtrip(tmp_path: Path) -> None:
    first = scan_paths([str(_manifest(tmp_path, "test-privileged: vendor image needs it"))], OPTIONS)
    baseline = tmp_path / "baseline.json"
    assert suppress.write_baseline([first], baseline) == 3  # the inline-suppressed one is not recorded
    document = json.loads(baseline.read_text())
    assert document["version"] == 1
    assert [e["rule"] for e in document["findings"]] == sorted(e["rule"] for e in document["findings"])
    assert {"run", "rule", "resource", "field", "fingerprint"} == set(document["findings"][0])
    before = baseline.read_text()
    suppress.write_baseline([scan_paths([str(tmp_path / "web.yaml")], OPTIONS)], baseline)
    assert baseline.read_text() == before  # deterministic

    # a line move plus a new finding: only the new one counts
    text = (tmp_path / "web.yaml").read_text().replace("spec:\n  replicas", "spec:\n  minReadySeconds: 3\n  replicas")
    (tmp_path / "web.yaml").write_text(text)
    other = _manifest(tmp_path, None, name="api")
    again = scan_paths([str(tmp_path / "web.yaml"), str(other)], OPTIONS)
    known = suppress.load_baseline(baseline)
    assert suppress.apply_baseline([again], known, "baseline.json") == 3
    external = [f for f in again.findings if f.suppression and f.suppression.kind == "external"]
    assert {f.resource.name for f in external} == {"web"}
    new = [f for f in again.findings if not f.suppressed]
    assert {f.resource.name for f in new} == {"api"} and len(new) == 4
    assert len(again.findings) == 8  # nothing dropped


@pytest.mark.parametrize(("content", "problem"), [
    ("{", "not valid JSON"),
    ('{"version": 2, "findings": []}', "not a kguard baseline"),
    ('{"version": 1, "findings": [{"rule": "x"}]}', "fingerprint"),
])
def test_bad_baseline_is_a_usage_error(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "b.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=problem):
        suppress.load_baseline(path)
    with pytest.raises(UsageError, match="cannot read"):
        suppress.load_baseline(tmp_path / "missing.json")


@pytest.mark.integration
def test_suppressions_on_kustomize_objects(tmp_path: Path) -> None:
    from scanner.plan import scan_overlays

    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "web.yaml").write_text(DEPLOYMENT.format(name="web", annotations=""))
    (tmp_path / "base" / "kustomization.yaml").write_text("resources: [web.yaml]\n")
    for name, extra in {
        "ok": "patches:\n  - patch: |-\n      apiVersion: apps/v1\n      kind: Deployment\n      metadata:\n"
              "        name: web\n        annotations:\n          kguard.io/ignore: 'test-privileged: debug build of the web app'\n",
        "bad": "commonAnnotations:\n  kguard.io/ignore: test-privileged\n",
    }.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "kustomization.yaml").write_text(f"resources: [../base]\n{extra}")
    ok, bad = scan_overlays([str(tmp_path / "ok"), str(tmp_path / "bad")], OPTIONS)
    assert [f.rule_id for f in ok.findings if f.suppressed] == ["test-privileged"] and not ok.input_errors
    (error,) = bad.input_errors
    assert error.path.endswith("bad/kustomization.yaml") and error.line == 3
    assert not any(f.suppressed for f in bad.findings)


@pytest.mark.integration
def test_baseline_survives_generated_configmap_hash_changes(tmp_path: Path) -> None:
    from scanner.plan import scan_overlays

    kfile = tmp_path / "overlay" / "kustomization.yaml"
    kfile.parent.mkdir()
    kfile.write_text("configMapGenerator:\n  - name: app\n    literals:\n      - DB_PASSWORD=x\n      - LEVEL=info\n")
    first = scan_overlays([str(kfile.parent)], OPTIONS)
    (finding,) = first[0].findings
    assert finding.rule_id == "test-password-in-config"
    suppress.write_baseline(first, tmp_path / "b.json")
    assert json.loads((tmp_path / "b.json").read_text())["findings"][0]["resource"] == "ConfigMap default/app"

    kfile.write_text(kfile.read_text().replace("LEVEL=info", "LEVEL=debug"))  # new content hash, new name
    second = scan_overlays([str(kfile.parent)], OPTIONS)
    assert second[0].findings[0].resource.name != finding.resource.name
    assert suppress.apply_baseline(second, suppress.load_baseline(tmp_path / "b.json"), "b.json") == 1


# ---------------------------------------------------------------------------------------------------------------
# The suppression policy (.kguard.yaml `suppressions:`): what an annotation written in a pull request may do


def _severity_scan(tmp_path: Path, annotation: str, policy: object = None):
    from scanner.config import Config, SuppressionPolicy

    config = Config(suppressions=policy or SuppressionPolicy())
    options = dataclasses.replace(OPTIONS, config=config)
    return scan_paths([str(_manifest(tmp_path, annotation))], options)


@pytest.mark.parametrize("pattern", ["*", "?*", "[a-z]*", "test-*"])
def test_wildcards_do_not_cover_high_findings_by_default(tmp_path: Path, pattern: str) -> None:
    result = _severity_scan(tmp_path, f"{pattern}: accepted for the whole object")
    privileged = _by_rule(result)["test-privileged"]
    assert privileged.suppression is None and "name the rule test-privileged" in privileged.message
    assert _by_rule(result)["test-max-replicas"].suppressed  # low: a wildcard may cover it
    assert result.exit_code(HIGH) == 1


def test_a_policy_may_allow_wildcards_up_to_high(tmp_path: Path) -> None:
    from scanner.config import SuppressionPolicy

    result = _severity_scan(tmp_path, "test-*: accepted for the whole object",
                            SuppressionPolicy(wildcard_max_severity=Severity.HIGH))
    assert _by_rule(result)["test-privileged"].suppressed


def test_critical_findings_are_not_suppressed_inline(tmp_path: Path) -> None:
    from scanner.config import SuppressionPolicy

    result = _severity_scan(tmp_path, "test-privileged: we accept the risk here",
                            SuppressionPolicy(inline_max_severity=Severity.MEDIUM))
    privileged = _by_rule(result)["test-privileged"]
    assert privileged.suppression is None and "inlineMaxSeverity" in privileged.message


@pytest.mark.parametrize(("annotation", "problem"), [
    ("test-privileged: .", "too short"),
    ("test-privileged: ok ok ok", "too short"),
    ("test-privileged: ............", "too short"),
    ("test-privileged: accepted for the release; expires=9999-12-31", "days ahead"),
])
def test_cheap_reasons_and_far_expiries_are_input_errors(tmp_path: Path, annotation: str, problem: str) -> None:
    result = _severity_scan(tmp_path, annotation)
    (error,) = result.input_errors
    assert problem in error.message and error.line is not None
    assert not any(f.suppressed for f in result.findings)
    assert result.exit_code(HIGH) == 2


def test_suppression_policy_in_the_configuration(tmp_path: Path) -> None:
    from scanner.config import parse_config
    from scanner.errors import UsageError

    config = parse_config({"suppressions": {"wildcardMaxSeverity": "low", "maxExpiryDays": 30}}, ".kguard.yaml")
    assert config.suppressions.wildcard_max_severity is Severity.LOW and config.suppressions.max_expiry_days == 30
    assert config.as_dict()["suppressions"]["inlineMaxSeverity"] == "high"
    with pytest.raises(UsageError, match=r"suppressions\.maxExpiryDays"):
        parse_config({"suppressions": {"maxExpiryDays": "forever"}}, ".kguard.yaml")
    with pytest.raises(UsageError, match="unknown setting"):
        parse_config({"suppressions": {"allowAll": True}}, ".kguard.yaml")


def test_baseline_is_never_written_through_a_planted_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "baseline.json").symlink_to(victim)
    monkeypatch.chdir(repo)
    result = scan_paths([str(_manifest(repo, None))], OPTIONS)
    with pytest.raises(UsageError, match=r"baseline\.json"):
        suppress.write_baseline([result], Path("baseline.json"))
    assert victim.read_text() == "keep me\n"
