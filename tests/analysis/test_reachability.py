"""Reachability over NetworkPolicies: allowed/denied paths and the cross-environment findings."""

import copy
import dataclasses
import json
import random
from pathlib import Path

import pytest
import yaml

from scanner.analysis.reachability import analyse, build_graph, environment
from scanner.engine.review import apply_default_namespace
from scanner.load.files import load_text
from scanner.load.kustomize.overlay import load_overlays
from scanner.model import Resource, Severity

NET = "networking.k8s.io/v1"
REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
ENVIRONMENTS = ("development", "staging", "production")


def namespace(name, **labels):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def deployment(name, ns, labels=None, ports=None):
    labels = labels or {"app": name}
    container = {"name": "c", "image": "x"}
    if ports:
        container["ports"] = [{"name": n, "containerPort": p} for n, p in ports.items()]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": dict(labels)}, "spec": {"containers": [container]}}}}


def policy(name, ns, selector=None, types=None, ingress=None, egress=None):
    spec = {"podSelector": selector or {}}
    if types is not None:
        spec["policyTypes"] = types
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    return {"apiVersion": NET, "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def load(*docs) -> list[Resource]:
    result = load_text(yaml.safe_dump_all(docs, sort_keys=False), "net.yaml")
    assert not result.errors
    return result.resources


def text_of(resources) -> list[str]:
    """The lines of the stream `load` parsed (the same objects dumped the same way)."""
    text = yaml.safe_dump_all([r.obj for r in resources], sort_keys=False)
    assert "&id" not in text  # no YAML anchors: then `load` saw exactly these lines
    return text.splitlines()


def reaches(resources, source: str, destination: str) -> bool:
    graph = build_graph(resources)
    by_name = {w.resource.name: g for g in graph.groups for w in g.members}
    return graph.connection(by_name[source], by_name[destination]) is not None


def two_envs(*extra):
    return load(namespace("shop-staging", environment="staging"), namespace("shop-production", environment="production"),
                deployment("client", "shop-staging"), deployment("api", "shop-production", ports={"http": 8080}),
                *extra)


# --- allowed / denied paths -------------------------------------------------------------------------------------------

def test_no_policies_everything_reaches_everything():
    res = two_envs()
    assert reaches(res, "client", "api") and reaches(res, "api", "client")


def test_pod_selector_admits_only_matching_pods_of_the_policy_namespace():
    res = load(deployment("web", "shop"), deployment("api", "shop"), deployment("db", "shop"),
               deployment("api", "other"),
               policy("db", "shop", {"matchLabels": {"app": "db"}}, ingress=[{"from": [{"podSelector": {
                   "matchLabels": {"app": "api"}}}]}]))
    graph = build_graph(res)
    groups = {(w.namespace, w.resource.name): g for g in graph.groups for w in g.members}
    db = groups[("shop", "db")]
    assert graph.connection(groups[("shop", "api")], db) is not None
    assert graph.connection(groups[("shop", "web")], db) is None
    assert graph.connection(groups[("other", "api")], db) is None  # podSelector alone: same namespace only
    assert graph.connection(db, groups[("shop", "web")]) is not None  # web is not isolated


def test_namespace_selector_by_label_and_by_metadata_name():
    res = load(namespace("a", team="blue"), namespace("b", team="red"), deployment("x", "a"), deployment("yy", "b"),
               deployment("db", "c"),
               policy("db", "c", ingress=[{"from": [{"namespaceSelector": {"matchLabels": {"team": "blue"}}}]}]),
               policy("z", "a", ingress=[{"from": [{"namespaceSelector": {"matchLabels": {
                   "kubernetes.io/metadata.name": "c"}}}]}]))
    assert reaches(res, "x", "db") and not reaches(res, "yy", "db")
    assert reaches(res, "db", "x") and not reaches(res, "yy", "x")


def test_match_expressions():
    peer = {"podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["a", "b"]},
                                                 {"key": "tier", "operator": "DoesNotExist"}]}}
    res = load(deployment("a", "ns"), deployment("b", "ns", {"app": "b", "tier": "x"}), deployment("c", "ns"),
               deployment("db", "ns"), policy("db", "ns", {"matchExpressions": [
                   {"key": "app", "operator": "NotIn", "values": ["a", "b", "c"]}]}, ingress=[{"from": [peer]}]))
    assert reaches(res, "a", "db")
    assert not reaches(res, "b", "db")  # has tier
    assert not reaches(res, "c", "db")  # not In
    assert reaches(res, "db", "a")  # a is not selected by the NotIn selector


def test_both_selectors_in_one_peer_is_and_two_peers_is_or():
    both = {"namespaceSelector": {"matchLabels": {"team": "blue"}}, "podSelector": {"matchLabels": {"app": "x"}}}
    res = load(namespace("a", team="blue"), namespace("b", team="red"), deployment("x", "a"),
               deployment("w", "a"), deployment("x", "b", {"app": "x"}), deployment("db", "c"),
               policy("db", "c", ingress=[{"from": [both]}]))
    graph = build_graph(res)
    groups = {(w.namespace, w.resource.name): g for g in graph.groups for w in g.members}
    db = groups[("c", "db")]
    assert graph.connection(groups[("a", "x")], db) is not None
    assert graph.connection(groups[("a", "w")], db) is None
    assert graph.connection(groups[("b", "x")], db) is None
    split = [{"namespaceSelector": {"matchLabels": {"team": "blue"}}}, {"podSelector": {"matchLabels": {"app": "x"}}}]
    res = load(namespace("a", team="blue"), namespace("b", team="red"), deployment("w", "a"),
               deployment("x", "b"), deployment("db", "c"), policy("db", "c", ingress=[{"from": split}]))
    assert reaches(res, "w", "db")  # any pod of team=blue
    assert not reaches(res, "x", "db")  # app=x, but only in c


def test_egress_isolation_blocks_an_open_destination():
    deny = policy("deny", "shop-staging", types=["Egress"])
    assert not reaches(two_envs(deny), "client", "api")
    assert reaches(two_envs(deny), "api", "client")  # ingress of client is still open
    to_prod = policy("out", "shop-staging", egress=[{"to": [{"namespaceSelector": {"matchLabels": {
        "environment": "production"}}}], "ports": [{"port": 8080}]}])
    assert reaches(two_envs(deny, to_prod), "client", "api")
    dns_only = policy("out", "shop-staging", egress=[{"ports": [{"port": 53, "protocol": "UDP"}]}])
    assert reaches(two_envs(deny, dns_only), "client", "api")  # api accepts every port, UDP/53 included
    http_only = policy("api", "shop-production", ingress=[{"ports": [{"port": 8080}]}])
    assert not reaches(two_envs(deny, dns_only, http_only), "client", "api")  # no port both sides allow


def test_policy_types_default_to_ingress_plus_egress_when_there_are_egress_rules():
    only_egress_rules = policy("p", "shop-production", egress=[{"to": [{"podSelector": {}}]}])
    res = two_envs(only_egress_rules)
    assert not reaches(res, "client", "api")  # the policy isolates api for ingress too and admits no one
    assert not reaches(res, "api", "client")  # egress only to its own namespace
    ingress_only = policy("p", "shop-production", types=["Ingress"], egress=[{"to": [{"podSelector": {}}]}])
    assert reaches(two_envs(ingress_only), "api", "client")  # egress rules without the Egress type do nothing


def test_ip_block_peers_admit_no_workload():
    block = policy("p", "shop-production", ingress=[{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}])
    assert not reaches(two_envs(block), "client", "api")
    empty_from = policy("p", "shop-production", ingress=[{"ports": [{"port": 8080}]}])
    assert reaches(two_envs(empty_from), "client", "api")


def test_named_ports_resolve_on_the_destination_and_ports_must_overlap():
    named = policy("p", "shop-production", ingress=[{"ports": [{"port": "http"}]}])
    assert reaches(two_envs(named), "client", "api")
    missing = policy("p", "shop-production", ingress=[{"ports": [{"port": "grpc"}]}])
    assert not reaches(two_envs(missing), "client", "api")
    udp = policy("p", "shop-production", ingress=[{"ports": [{"port": "http", "protocol": "UDP"}]}])
    assert not reaches(two_envs(udp), "client", "api")
    egress = [policy("e", "shop-staging", egress=[{"ports": [{"port": 8000, "endPort": 8100}]}]),
              policy("p", "shop-production", ingress=[{"ports": [{"port": 9090}, {"port": "http"}]}])]
    assert reaches(two_envs(*egress), "client", "api")  # 8080 is in 8000-8100 and named http
    egress[1] = policy("p", "shop-production", ingress=[{"ports": [{"port": 9090}]}])
    assert not reaches(two_envs(*egress), "client", "api")


def test_controlled_objects_are_not_workloads():
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "api-1", "namespace": "shop-staging", "ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "api-x", "controller": True}]},
        "spec": {"containers": [{"name": "c", "image": "x"}]}}
    lone = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "debug", "namespace": "shop-staging"},
            "spec": {"containers": [{"name": "c", "image": "x"}]}}
    names = {w.resource.name for g in build_graph(two_envs(pod, lone)).groups for w in g.members}
    assert names == {"client", "api", "debug"}


def test_workload_kinds_use_their_pod_template_labels():
    cron = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "job", "namespace": "shop-staging",
                                                                      "labels": {"app": "wrong"}},
            "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": {
                "metadata": {"labels": {"app": "cron"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}}}}
    rollout_ref = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                   "metadata": {"name": "ref", "namespace": "shop-staging"},
                   "spec": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "client"}}}
    owned_rs = deployment("client-abc", "shop-staging")
    owned_rs.update(kind="ReplicaSet")
    owned_rs["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "client",
                                                "controller": True}]
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api", "namespace": "shop-production"},
               "spec": {"selector": {"app": "api"}}}
    allow = policy("api", "shop-production", {"matchLabels": {"app": "api"}}, ingress=[{"from": [
        {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "cron"}}}]}])
    res = two_envs(cron, rollout_ref, owned_rs, service, allow)
    graph = build_graph(res)
    assert sorted(w.resource.name for g in graph.groups for w in g.members) == ["api", "client", "job"]
    assert reaches(res, "job", "api") and not reaches(res, "client", "api")
    (finding,) = [f for f in analyse(res)[0] if f.resource.name == "api"]
    assert "e.g. CronJob shop-staging/job" in finding.message


def test_inline_suppression_on_the_destination():
    from scanner.scan import ScanOptions, scan_resources

    api = deployment("api", "shop-production")
    api["metadata"]["annotations"] = {"kguard.io/ignore": "seg-reachability-cross-environment: shared test bed"}
    res = load(namespace("shop-staging", environment="staging"), namespace("shop-production", environment="production"),
               deployment("client", "shop-staging"), api)
    result = scan_resources(res, ScanOptions(select=["seg-reachability-cross-environment"]))
    assert {(f.resource.name, f.suppressed) for f in result.findings} == {("api", True), ("client", False)}


def test_malformed_fields_never_crash_and_malformed_selectors_match_nothing():
    bad_selector = {"matchLabels": ["app"]}
    res = two_envs(policy("p", "shop-production", ingress=[{"from": [{"namespaceSelector": bad_selector}]}]))
    assert not reaches(res, "client", "api")
    res = two_envs(policy("p", "shop-production", bad_selector, ingress=[]))  # selects nothing: api stays open
    assert reaches(res, "client", "api")
    odd = policy("q", "shop-production", ingress=[None, {"from": "x", "ports": [None, {"port": []}]}],
                 egress=[{"to": [None, {"podSelector": {"matchExpressions": [{"key": "a", "operator": "In",
                                                                                "values": 3}]}}]}])
    odd["metadata"]["ownerReferences"] = 1
    findings = {f.resource.name: f.message for f in analyse(two_envs(odd))[0]}
    assert "ingress rule 1 of NetworkPolicy shop-production/q" in findings["api"]  # a null rule is `{}`: allow all


def test_environment_names():
    assert environment("x", {"environment": "Prod"}) == "production"
    assert environment("x-dev", {"app.kubernetes.io/environment": "staging"}) == "staging"
    assert environment("shop-dev", {}) == "development"
    assert environment("shop-production", {}) == "production"
    assert environment("production-tools", {}) is None
    assert environment("ingress-nginx", {}) is None


# --- findings -------------------------------------------------------------------------------------------------------

def test_unisolated_destination_is_reported_at_its_pod_template():
    res = two_envs()
    findings, rules = analyse(res)
    assert [r.id for r in rules] == ["seg-reachability-cross-environment"]
    by_target = {f.resource.name: f for f in findings}
    assert set(by_target) == {"api", "client"}
    api = by_target["api"]
    assert api.severity is Severity.HIGH and api.category == "segmentation"
    assert "not isolated for ingress" in api.message and "Deployment shop-staging/client" in api.message
    assert api.field_path == ("spec", "template")
    lines = text_of(res)
    assert api.location.path == "net.yaml" and lines[api.location.line - 1] == "  template:"
    assert "name: api" in lines[api.location.line - 7]
    assert api.related[0].resource.name == "client"


def test_finding_blames_the_admitting_ingress_peer_line():
    allow = policy("api", "shop-production", {"matchLabels": {"app": "api"}}, ingress=[
        {"from": [{"podSelector": {"matchLabels": {"app": "none"}}}]},
        {"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}},
                  {"namespaceSelector": {"matchLabels": {"environment": "staging"}}}],
         "ports": [{"port": "http"}]}])
    deny = policy("deny", "shop-staging", types=["Ingress"])
    res = two_envs(allow, deny)
    findings, _ = analyse(res)
    assert len(findings) == 1
    finding = findings[0]
    assert finding.resource.name == "api"
    text = text_of(res)
    assert text[finding.location.line - 1].strip() == "- namespaceSelector:"
    assert text[finding.location.line - 2].strip() == "cidr: 10.0.0.0/8"
    assert "ingress rule 2 of NetworkPolicy shop-production/api" in finding.message
    assert finding.field_path == ()  # the location is in another object than the finding's resource
    assert "TCP/8080" in finding.message
    assert [r.resource.name for r in finding.related] == ["client", "api"]


def test_related_egress_rule_is_the_one_opening_the_used_port():
    egress = policy("out", "shop-staging", types=["Egress"], egress=[
        {"ports": [{"port": 53, "protocol": "UDP"}]},
        {"to": [{"namespaceSelector": {"matchLabels": {"environment": "production"}}}], "ports": [{"port": 8080}]}])
    ingress = policy("api", "shop-production", ingress=[{"ports": [{"port": "http"}]}])
    deny = policy("deny", "shop-staging", types=["Ingress"])
    (finding,) = analyse(two_envs(egress, ingress, deny))[0]
    assert [r.message for r in finding.related] == ["the source, in environment staging",
                                                   "ingress rule 1 admits the source",
                                                   "egress rule 2 lets the source out"]


def test_one_finding_per_destination_and_source_environment_and_deterministic():
    docs = [namespace("shop-staging", environment="staging"), namespace("shop-production", environment="production"),
            namespace("shop-dev"), deployment("api", "shop-production"), deployment("b", "shop-staging"),
            deployment("a", "shop-staging"), deployment("c", "shop-dev"),
            policy("deny", "shop-staging", types=["Ingress"]), policy("deny", "shop-dev", types=["Ingress"])]
    findings, _ = analyse(load(*docs))
    assert [(f.resource.name, f.message.split("environment ")[1].split(" ")[0]) for f in findings] == [
        ("api", "development"), ("api", "staging")]
    assert "e.g. Deployment shop-staging/a" in findings[1].message  # the first source in order
    assert len({f.fingerprint for f in findings}) == 2
    for seed in range(3):
        shuffled = docs[:]
        random.Random(seed).shuffle(shuffled)
        again, _ = analyse(load(*shuffled))
        assert [(f.message, f.fingerprint) for f in again] == [(f.message, f.fingerprint) for f in findings]


def test_same_environment_and_unknown_environment_are_not_reported():
    res = load(namespace("a", environment="staging"), namespace("b", environment="staging"),
               deployment("x", "a"), deployment("yy", "b"), deployment("z", "tools"))
    assert analyse(res)[0] == []


# --- the repository's own overlays ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shop_overlays() -> list[Resource]:
    """The three environment overlays rendered by the real kubectl, as if deployed to one cluster."""
    resources = []
    for loaded in load_overlays([str(MANIFESTS / "overlays" / env) for env in ENVIRONMENTS]):
        assert not loaded.errors
        resources.extend(loaded.resources)
    apply_default_namespace(resources, "default")
    return resources


def test_shop_overlays_have_no_cross_environment_path(shop_overlays):
    graph = build_graph(shop_overlays)
    assert {environment(ns, graph.namespace_labels[ns]) for ns in graph.by_namespace} >= set(ENVIRONMENTS)
    assert sum(len(g.members) for g in graph.groups) >= 24  # the analysis saw the shop's workloads
    assert analyse(shop_overlays)[0] == []


def _opened(resources: list[Resource], name: str, namespace: str, direction: str) -> None:
    """Give the first peer of the policy's first rule `namespaceSelector: {}` (every namespace), in place."""
    index = next(i for i, r in enumerate(resources) if r.kind == "NetworkPolicy" and r.name == name
                 and r.namespace == namespace)
    opened = dataclasses.replace(resources[index], obj=copy.deepcopy(resources[index].obj))
    opened.obj["spec"][direction][0]["from" if direction == "ingress" else "to"][0]["namespaceSelector"] = {}
    resources[index] = opened


def test_opening_a_shop_policy_is_blamed_at_its_kustomize_source_line(shop_overlays):
    resources = copy.copy(shop_overlays)
    _opened(resources, "user-db", "shop-production", "ingress")
    assert analyse(resources)[0] == []  # the sources' egress still keeps them in their namespace
    _opened(resources, "user-service", "shop-staging", "egress")
    findings, _ = analyse(resources)
    assert [(f.resource.namespace, f.resource.name) for f in findings] == [("shop-production", "user-db")]
    finding = findings[0]
    assert finding.related[0].resource.display() == "Deployment shop-staging/user-service"
    source = "manifests/infrastructure/network-policies/service-graph.yaml"
    assert finding.location.path == source
    lines = (REPO / source).read_text().splitlines()
    assert lines[finding.location.line - 1].strip() == "- podSelector:"  # the peer that now admits every namespace
    assert "name: user-db" in "\n".join(lines[finding.location.line - 15:finding.location.line])


# --- wiring into scan_resources -------------------------------------------------------------------------------------

def _scan(**options):
    from scanner.scan import ScanOptions, scan_resources

    return scan_resources(two_envs(), ScanOptions(**options))


def test_scan_reports_the_analysis_and_its_rule():
    result = _scan(select=["seg-reachability-cross-environment"])
    assert sorted(f.resource.name for f in result.findings) == ["api", "client"]
    assert [r.id for r in result.rules] == ["seg-reachability-cross-environment"]
    assert any(f.rule_id == "seg-reachability-cross-environment" for f in _scan(select=["segmentation"]).findings)


@pytest.mark.parametrize("options", [{"analyses": False}, {"ignore": ["seg-reachability-*"]},
                                     {"select": ["seg-workload-ingress-isolation"]}])
def test_scan_without_the_analysis(options):
    result = _scan(**options)
    assert all(f.rule_id != "seg-reachability-cross-environment" for f in result.findings)
    assert "seg-reachability-cross-environment" not in {r.id for r in result.rules}
    assert result.rules  # the catalogue's rules are still there


def test_selecting_the_analysis_rule_when_analyses_are_off_is_a_usage_error():
    from scanner.errors import UsageError

    with pytest.raises(UsageError, match="matches no rule"):
        _scan(analyses=False, select=["seg-reachability-cross-environment"])


def test_cli_no_analyses_flag(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from scanner.cli import app

    monkeypatch.chdir(tmp_path)
    (tmp_path / ".git").mkdir()
    (tmp_path / "net.yaml").write_text(yaml.safe_dump_all([r.obj for r in two_envs()], sort_keys=False))
    args = ["scan", "net.yaml", "--select", "seg-reachability-cross-environment", "--format", "json", "-q"]
    on = CliRunner().invoke(app, args)
    assert on.exit_code == 1, on.output
    assert {f["rule_id"] for f in json.loads(on.output)["findings"]} == {"seg-reachability-cross-environment"}
    off = CliRunner().invoke(app, [*args[:2], "--format", "json", "-q", "--no-analyses"])
    assert off.exit_code in (0, 1), off.output
    assert all(f["rule_id"] != "seg-reachability-cross-environment" for f in json.loads(off.output)["findings"])


def test_kguard_rules_lists_the_analysis_rule():
    from typer.testing import CliRunner

    from scanner.cli import app

    result = CliRunner().invoke(app, ["rules", "--format", "json"])
    assert result.exit_code == 0
    rules = {r["id"]: r for r in json.loads(result.stdout)}
    assert rules["seg-reachability-cross-environment"]["kind"] == "KguardAnalysisReachabilityCrossEnvironment"
    assert list(rules) == sorted(rules)


# --- details the messages and the model rest on ----------------------------------------------------------------------

def _only_finding_on(resources, name: str):
    (finding,) = [f for f in analyse(resources)[0] if f.resource.name == name]
    return finding


def test_the_message_names_both_environments_the_ports_and_the_admitting_rule():
    """The format docs/analysis-reachability.md shows."""
    allow = policy("api", "shop-production", ingress=[{"ports": [{"port": 8080}]}])
    finding = _only_finding_on(two_envs(allow), "api")
    assert finding.message == ("Deployment shop-production/api (production) can be reached from environment staging "
                               "on TCP/8080, e.g. Deployment shop-staging/client (staging): admitted by ingress rule 1 "
                               "of NetworkPolicy shop-production/api")


def test_a_named_port_opens_only_the_container_port_of_that_name():
    docs = [namespace("shop-staging", environment="staging"), namespace("shop-production", environment="production"),
            deployment("client", "shop-staging"),
            deployment("api", "shop-production", ports={"admin": 9000, "metrics": 9090, "zz-debug": 9999}),
            policy("api", "shop-production", ingress=[{"ports": [{"port": "metrics"}]}])]
    assert "on TCP/9090, e.g." in _only_finding_on(load(*docs), "api").message


def test_a_port_entry_without_a_port_opens_every_port_of_its_protocol():
    allow = policy("api", "shop-production", ingress=[{"ports": [{"protocol": "UDP"}]}])
    assert "on UDP/1-65535, e.g." in _only_finding_on(two_envs(allow), "api").message


def test_describe_ports():
    from scanner.analysis.reachability import describe_ports

    assert describe_ports(None) == "any port"
    # a one-port range is one port, whichever int objects hold its bounds (ports read from JSON are distinct)
    assert describe_ports(frozenset({("TCP", int("8080"), int("8080"))})) == "TCP/8080"
    assert describe_ports(frozenset({("TCP", 8000, 8100)})) == "TCP/8000-8100"
    five = frozenset(("TCP", port, port) for port in range(1001, 1006))
    assert describe_ports(five) == "TCP/1001, TCP/1002, TCP/1003 (+2 more)"


def test_only_v1_namespaces_give_a_namespace_its_labels():
    """Another object named like the namespace, or a Namespace look-alike of another group, does not relabel it."""
    impostors = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
                     "name": "shop-production", "namespace": "shop-production", "labels": {"environment": "staging"}}},
                 {"apiVersion": "example.com/v1", "kind": "Namespace", "metadata": {
                     "name": "shop-production", "labels": {"environment": "staging"}}}]
    for impostor in impostors:
        graph = build_graph(two_envs(impostor))
        assert environment("shop-production", graph.namespace_labels["shop-production"]) == "production", impostor


def test_a_network_policy_kind_of_another_api_group_isolates_nothing():
    calico = {"apiVersion": "crd.projectcalico.org/v1", "kind": "NetworkPolicy",
              "metadata": {"name": "deny", "namespace": "shop-production"},
              "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
    assert reaches(two_envs(calico), "client", "api")
    assert not reaches(two_envs(policy("deny", "shop-production", types=["Ingress"])), "client", "api")
