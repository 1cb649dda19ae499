"""scanner.mirror: generating gatekeeper/ from policies/ and detecting drift."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from scanner import mirror
from scanner.engine.catalogue import load_catalogue

REPO = Path(__file__).resolve().parents[1]
POLICIES = REPO / "policies"


def _template_rego(text: str) -> tuple[str, list[str]]:
    source = yaml.safe_load(text)["spec"]["targets"][0]["code"][0]["source"]
    assert source["version"] == "v1"
    return source["rego"], source.get("libs", [])


def test_build_generates_one_template_and_constraint_per_policy() -> None:
    files = mirror.build(POLICIES)
    catalogue = load_catalogue(POLICIES)
    for policy in catalogue:
        name = policy.rule.kind.lower()
        template = yaml.safe_load(files[f"templates/{name}.yaml"])
        assert template["metadata"]["name"] == name
        assert template["spec"]["crd"]["spec"]["names"]["kind"] == policy.rule.kind
        rego, libs = _template_rego(files[f"templates/{name}.yaml"])
        assert rego == policy.rego
        assert libs == list(policy.libs)
        constraint = yaml.safe_load(files[f"constraints/{name}.yaml"])
        assert constraint["kind"] == policy.rule.kind
        assert constraint["metadata"]["name"] == policy.rule.id
    assert len([f for f in files if f.startswith("templates/")]) == len(catalogue)


def test_rego_is_written_as_literal_blocks() -> None:
    files = mirror.build(POLICIES)
    text = files["templates/kguardpssprivileged.yaml"]
    assert "rego: |" in text
    assert "\\n" not in text


def test_config_syncs_the_union_of_policy_needs() -> None:
    config = yaml.safe_load(mirror.build(POLICIES)["config.yaml"])
    assert config["kind"] == "Config"
    assert config["metadata"] == {"name": "config", "namespace": "gatekeeper-system"}
    synced = {(s["group"], s["version"], s["kind"]) for s in config["spec"]["sync"]["syncOnly"]}
    wanted = {(s.get("group", ""), s["version"], s["kind"]) for p in load_catalogue(POLICIES) for s in p.sync}
    assert synced == wanted
    assert ("networking.k8s.io", "v1", "NetworkPolicy") in synced
    assert ("rbac.authorization.k8s.io", "v1", "ClusterRole") in synced


def test_kustomization_lists_every_generated_resource() -> None:
    files = mirror.build(POLICIES)
    resources = yaml.safe_load(files["kustomization.yaml"])["resources"]
    assert sorted(resources) == sorted(f for f in files if f != "kustomization.yaml")


def test_build_is_deterministic() -> None:
    assert mirror.build(POLICIES) == mirror.build(POLICIES)


def test_committed_gatekeeper_directory_is_up_to_date() -> None:
    assert mirror.check(POLICIES, REPO / "gatekeeper") == []


def test_write_then_check_detects_hand_edits_and_stale_files(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    out = tmp_path / "gatekeeper"
    changed = mirror.write(policies, out)
    assert "config.yaml" in changed
    assert mirror.check(policies, out) == []

    template = out / "templates/kguardpssprivileged.yaml"
    template.write_text(template.read_text().replace("privileged=true", "privileged=yes"))
    (out / "constraints/kguardstale.yaml").write_text("kind: KguardStale\n")
    (out / "kustomization.yaml").unlink()
    assert mirror.check(policies, out) == [
        "constraints/kguardstale.yaml", "kustomization.yaml", "templates/kguardpssprivileged.yaml",
    ]

    mirror.write(policies, out)
    assert mirror.check(policies, out) == []
    assert not (out / "constraints/kguardstale.yaml").exists()


def test_check_sees_policy_changes(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    out = tmp_path / "gatekeeper"
    mirror.write(policies, out)
    meta = policies / "pod-security/privileged/metadata.yaml"
    meta.write_text(meta.read_text().replace("severity: critical", "severity: high"))
    assert mirror.check(policies, out) == ["templates/kguardpssprivileged.yaml"]


def test_docs_rules_table_is_current() -> None:
    doc = (REPO / "docs/policies.md").read_text()
    assert mirror.rules_table(POLICIES) in doc


def test_write_refuses_a_linked_directory_before_removing_or_writing_anything(tmp_path: Path, monkeypatch) -> None:
    # a checkout where gatekeeper/templates links elsewhere: stale-looking files there are not deleted through it
    import pytest

    from scanner.errors import UsageError

    monkeypatch.chdir(tmp_path)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.yaml").write_text("precious: true\n")
    out = tmp_path / "gatekeeper"
    out.mkdir()
    (out / "templates").symlink_to(victim)
    with pytest.raises(UsageError, match="symbolic link"):
        mirror.write(POLICIES, out)
    assert (victim / "keep.yaml").read_text() == "precious: true\n"
    assert sorted(p.name for p in victim.iterdir()) == ["keep.yaml"]
    assert not (out / "config.yaml").exists()


def test_an_ignored_restricted_check_gives_its_baseline_check_the_restricted_namespaces_back() -> None:
    """The mirror of a `.kguard.yaml` that ignores pss-capabilities-restricted enforces what the scan checks: the
    baseline capabilities check everywhere but privileged namespaces (not only at baseline)."""
    from scanner.config import parse_config

    config = parse_config({"ignore": ["pss-capabilities-restricted"]}, ".kguard.yaml")
    files = mirror.build(POLICIES, config=config)
    assert "constraints/kguardpsscapabilitiesrestricted.yaml" not in files
    (constraint,) = yaml.safe_load_all(files["constraints/kguardpsscapabilitiesbaseline.yaml"])
    (expression,) = constraint["spec"]["match"]["namespaceSelector"]["matchExpressions"]
    assert (expression["operator"], expression["values"]) == ("NotIn", ["privileged"])
