import pytest

from scanner.engine.match import (
    AssumedUnlabelled,
    Undecided,
    glob_match,
    is_cluster_scoped,
    kinds_match,
    matches,
    placement,
    reads_only_placement,
    selector_matches,
)


def obj(kind="Pod", api="v1", name="web", ns="shop", labels=None):
    meta = {"name": name, "labels": labels or {}}
    if ns:
        meta["namespace"] = ns
    return {"apiVersion": api, "kind": kind, "metadata": meta}


NAMESPACES = {"shop": obj("Namespace", name="shop", ns=None, labels={"env": "prod"})}


@pytest.mark.parametrize(("pattern", "value", "expected"), [
    ("kube-*", "kube-system", True), ("*-system", "kube-system", True), ("*be-sy*", "kube-system", True),
    ("kube", "kube-system", False), ("kube-system", "kube-system", True), ("*", "x", True),
])
def test_glob(pattern, value, expected):
    assert glob_match(pattern, value) is expected


def test_label_selector_operators():
    labels = {"a": "1", "b": "2"}
    assert selector_matches({"matchLabels": {"a": "1"}}, labels)
    assert not selector_matches({"matchLabels": {"a": "2"}}, labels)
    assert selector_matches({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "3"]}]}, labels)
    assert not selector_matches({"matchExpressions": [{"key": "b", "operator": "NotIn", "values": ["2"]}]}, labels)
    assert selector_matches({"matchExpressions": [{"key": "c", "operator": "DoesNotExist"}]}, labels)
    assert not selector_matches({"matchExpressions": [{"key": "c", "operator": "Exists"}]}, labels)
    assert selector_matches({}, labels)


def test_kinds_and_groups():
    dep = obj("Deployment", "apps/v1")
    assert matches({"kinds": [{"apiGroups": ["apps"], "kinds": ["Deployment"]}]}, dep, NAMESPACES)
    assert not matches({"kinds": [{"apiGroups": [""], "kinds": ["Deployment"]}]}, dep, NAMESPACES)
    assert matches({"kinds": [{"apiGroups": ["*"], "kinds": ["*"]}]}, dep, NAMESPACES)
    assert matches({"kinds": [{"kinds": ["Deployment"]}]}, dep, NAMESPACES)
    assert matches({}, dep, NAMESPACES)


def test_scope():
    ns_obj = obj("Namespace", name="shop", ns=None)
    assert matches({"scope": "Cluster"}, ns_obj, NAMESPACES)
    assert not matches({"scope": "Namespaced"}, ns_obj, NAMESPACES)
    assert matches({"scope": "Namespaced"}, obj(), NAMESPACES)
    assert matches({"scope": "*"}, obj(), NAMESPACES)


def test_namespaces_and_exclusions_use_the_namespace_name_for_namespaces():
    assert matches({"namespaces": ["sh*"]}, obj(), NAMESPACES)
    assert not matches({"excludedNamespaces": ["shop"]}, obj(), NAMESPACES)
    assert not matches({"excludedNamespaces": ["shop"]}, obj("Namespace", name="shop", ns=None), NAMESPACES)
    cluster_role = obj("ClusterRole", "rbac.authorization.k8s.io/v1", ns=None)
    assert matches({"namespaces": ["other"]}, cluster_role, NAMESPACES)


def test_namespace_selector_offline():
    selector = {"namespaceSelector": {"matchLabels": {"env": "prod"}}}
    assert matches(selector, obj(), NAMESPACES)
    assert not matches({"namespaceSelector": {"matchLabels": {"env": "dev"}}}, obj(), NAMESPACES)
    verdict = matches(selector, obj(ns="unknown"), NAMESPACES)
    assert isinstance(verdict, Undecided) and "unknown" in verdict.reason
    name_selector = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "shop"}}}
    assert matches(name_selector, obj(), NAMESPACES)
    assert matches(selector, obj("ClusterRole", "rbac.authorization.k8s.io/v1", ns=None), NAMESPACES)


def test_label_selector_and_name():
    labelled = obj(labels={"tier": "web"})
    assert matches({"labelSelector": {"matchLabels": {"tier": "web"}}}, labelled, NAMESPACES)
    assert not matches({"labelSelector": {"matchLabels": {"tier": "db"}}}, labelled, NAMESPACES)
    assert matches({"name": "we*"}, labelled, NAMESPACES)
    assert not matches({"name": "db"}, labelled, NAMESPACES)


def test_cluster_scope_table():
    assert is_cluster_scoped("v1", "Namespace")
    assert is_cluster_scoped("constraints.gatekeeper.sh/v1beta1", "AnyKind")
    assert not is_cluster_scoped("apps/v1", "Deployment")
    assert not is_cluster_scoped("v1", "ConfigMap")


@pytest.mark.parametrize(("pattern", "namespace", "excluded"), [
    ("kube-*", "kube-system", True), ("kube-*", "kube-public", True), ("kube-*", "kubernetes-dashboard", False),
    ("*-system", "gatekeeper-system", True), ("*-system", "system-tools", False), ("*ops*", "devops-ci", True),
    ("kube-system", "kube-system", True), ("kube-system", "kube-system-2", False),
])
def test_excluded_namespaces_are_globs(pattern, namespace, excluded):
    """Gatekeeper's `excludedNamespaces` takes prefix/suffix/contains wildcards, for objects and Namespaces alike."""
    namespaces = {namespace: obj("Namespace", name=namespace, ns=None)}
    for reviewed in (obj(ns=namespace), obj("Namespace", name=namespace, ns=None)):
        result = matches({"excludedNamespaces": [pattern]}, reviewed, namespaces)
        assert bool(result) is not excluded, (pattern, namespace, reviewed["kind"])
        listed = {"excludedNamespaces": ["other", pattern], "namespaces": [namespace]}
        assert bool(matches(listed, reviewed, namespaces)) is not excluded


@pytest.mark.parametrize(("pattern", "value", "expected"), [
    ("*ops*", "kube-system", False), ("*kube*", "ube-system", False), ("*-sys*", "kube-system", True),
    ("kube-*", "kube", False), ("*-system", "system", False), ("**", "anything", True),
])
def test_glob_contains_prefix_and_suffix_need_the_whole_literal(pattern, value, expected):
    assert glob_match(pattern, value) is expected


def test_selectors_from_yaml_compare_operators_by_value():
    """Operators and keys read from YAML are new string objects, never the interned literals of the code."""
    import yaml

    def selector(text):
        return yaml.safe_load(text)

    labels = {"a": "1"}
    assert not selector_matches(selector("matchExpressions: [{key: a, operator: In, values: ['2']}]"), labels)
    assert selector_matches(selector("matchExpressions: [{key: a, operator: In, values: ['1']}]"), labels)
    assert not selector_matches(selector("matchExpressions: [{key: a, operator: NotIn, values: ['1']}]"), labels)
    assert not selector_matches(selector("matchExpressions: [{key: b, operator: Exists}]"), labels)
    assert not selector_matches(selector("matchExpressions: [{key: a, operator: DoesNotExist}]"), labels)
    assert not selector_matches(selector("matchExpressions: [{key: a, operator: in, values: ['1']}]"), labels)
    config = yaml.safe_load("{apiVersion: example.com/v1, kind: Config}")
    assert not is_cluster_scoped(config["apiVersion"], config["kind"])


def test_not_in_matches_when_the_label_is_absent():
    assert selector_matches({"matchExpressions": [{"key": "c", "operator": "NotIn", "values": ["x"]}]}, {"a": "1"})
    assert selector_matches({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["2"]}]}, {"a": "1"})


def test_gatekeeper_config_is_cluster_scoped_only_in_its_own_group():
    assert is_cluster_scoped("config.gatekeeper.sh/v1alpha1", "Config")
    assert not is_cluster_scoped("example.com/v1", "Config")
    assert is_cluster_scoped("mutations.gatekeeper.sh/v1", "AnyKind")


def test_namespaces_filter_and_cluster_scope_reject():
    assert not matches({"namespaces": ["other"]}, obj(), NAMESPACES)
    assert not matches({"namespaces": ["other"]}, obj("Namespace", name="shop", ns=None), NAMESPACES)
    assert not matches({"scope": "Cluster"}, obj(), NAMESPACES)


def test_only_a_core_namespace_is_judged_by_its_own_name():
    """A namespaced object of any other kind is judged by its namespace, not by its name."""
    for kind, api in (("ConfigMap", "v1"), ("LimitRange", "v1"), ("Namespace", "example.com/v1")):
        namespaced = obj(kind, api, name="elsewhere", ns="shop")
        assert matches({"namespaces": ["shop"]}, namespaced, NAMESPACES), kind
        assert not matches({"namespaces": ["elsewhere"]}, namespaced, NAMESPACES), kind


def test_a_missing_namespace_judged_as_unlabelled_says_so_either_way():
    wants_label = {"namespaceSelector": {"matchLabels": {"env": "prod"}}}
    wants_none = {"namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "DoesNotExist"}]}}
    missed = matches(wants_label, obj(ns="gone"), NAMESPACES, missing_namespace_unlabelled=True)
    assert isinstance(missed, AssumedUnlabelled) and not missed and missed.namespace == "gone"
    hit = matches(wants_none, obj(ns="gone"), NAMESPACES, missing_namespace_unlabelled=True)
    assert isinstance(hit, AssumedUnlabelled) and hit and hit.namespace == "gone"
    present = matches({"namespaceSelector": {"matchLabels": {"env": "dev"}}}, obj(), NAMESPACES,
                      missing_namespace_unlabelled=True)
    assert present is False
    assert matches(wants_label, obj(), NAMESPACES, missing_namespace_unlabelled=True) is True


def test_a_namespace_is_judged_by_the_namespace_selector_on_its_own_labels():
    shop = NAMESPACES["shop"]
    assert matches({"namespaceSelector": {"matchLabels": {"env": "prod"}}}, shop, NAMESPACES)
    assert not matches({"namespaceSelector": {"matchLabels": {"env": "dev"}}}, shop, NAMESPACES)
    assert not matches({"namespaceSelector": {"matchLabels": {"env": "dev"}}}, shop, {})


def test_match_labels_from_yaml_compare_by_value():
    import yaml

    selector = yaml.safe_load("matchLabels: {app: web, tier: front}")
    labels = yaml.safe_load("{app: web, tier: front, extra: x}")
    assert selector_matches(selector, labels)
    assert not selector_matches(selector, {**labels, "tier": "back"})


def test_a_kinds_entry_without_kinds_or_groups_matches_every_one():
    assert kinds_match([{"apiGroups": ["apps"]}], "apps", "Deployment")
    assert not kinds_match([{"apiGroups": ["apps"]}], "batch", "Job")
    assert kinds_match([{"kinds": ["Job"]}], "batch", "Job")
    assert kinds_match([{}], "batch", "Job")


def test_cluster_scope_selects_cluster_scoped_objects_and_namespaces():
    cluster_role = obj("ClusterRole", "rbac.authorization.k8s.io/v1", ns=None)
    assert matches({"scope": "Cluster"}, cluster_role, NAMESPACES)
    assert matches({"scope": "Cluster"}, obj("Namespace", name="shop", ns=None), NAMESPACES)
    assert not matches({"scope": "Namespaced"}, cluster_role, NAMESPACES)


PLACEMENT_MATCHES = [
    {},
    {"kinds": [{"apiGroups": ["apps"], "kinds": ["Deployment"]}]},
    {"scope": "Namespaced", "namespaces": ["sh*"]},
    {"scope": "Cluster"},
    {"excludedNamespaces": ["shop"]},
    {"namespaceSelector": {"matchLabels": {"env": "prod"}}},
    {"namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}},
    {"labelSelector": {}, "name": ""},  # empty selectors select by nothing
]


@pytest.mark.parametrize("match", PLACEMENT_MATCHES)
@pytest.mark.parametrize("placed", [
    {"kind": "Deployment", "api": "apps/v1", "ns": "shop"}, {"kind": "Pod", "ns": "shop"},
    {"kind": "Pod", "ns": "elsewhere"}, {"kind": "ClusterRole", "api": "rbac.authorization.k8s.io/v1", "ns": None},
])
def test_objects_placed_alike_get_the_same_verdict_from_a_match_that_reads_only_placement(match, placed):
    assert reads_only_placement(match)
    variants = [obj(name=name, labels=labels, **placed) for name, labels in
                (("web", None), ("db", {"env": "prod", "app": "db"}), ("kube-proxy", {"tier": "system"}))]
    assert len({placement(v) for v in variants}) == 1
    verdicts = [matches(match, v, NAMESPACES, missing_namespace_unlabelled=True) for v in variants]
    assert verdicts[1:] == verdicts[:-1]


def test_placement_is_group_kind_and_namespace_and_absent_where_the_verdict_needs_more():
    assert placement(obj("Deployment", "apps/v1", ns="shop")) == ("apps", "Deployment", "shop")
    assert placement(obj("ClusterRole", "rbac.authorization.k8s.io/v1", ns=None)) == \
        ("rbac.authorization.k8s.io", "ClusterRole", None)
    assert placement({"apiVersion": "v1", "kind": "Pod", "metadata": ["not", "a", "mapping"]}) == ("", "Pod", None)
    assert placement(obj("Namespace", name="shop", ns=None)) is None  # judged by its own name and labels
    assert placement(obj("Namespace", "example.com/v1", ns="shop")) == ("example.com", "Namespace", "shop")
    assert placement({"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": ["x"]}}) is None


def test_a_match_by_labels_or_name_reads_more_than_placement():
    assert not reads_only_placement({"labelSelector": {"matchLabels": {"app": "web"}}})
    assert not reads_only_placement({"name": "web*"})
    assert reads_only_placement({"namespaceSelector": {"matchLabels": {"env": "prod"}}, "namespaces": ["shop"]})
