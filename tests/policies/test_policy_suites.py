"""The minimal suite evaluator used by test_policies.py must itself be able to fail."""

from __future__ import annotations

from tests.policies.policy_suites import check_assertion, inventory_of, matches

VIOLATIONS = [{"msg": "Container \"app\" of Pod shop/x runs privileged"}, {"msg": "other finding"}]


def test_assertions_count_and_filter_by_message() -> None:
    assert check_assertion({"violations": 2}, VIOLATIONS) is None
    assert check_assertion({"violations": 1}, VIOLATIONS) is not None
    assert check_assertion({"violations": 1, "message": "privileged"}, VIOLATIONS) is None
    assert check_assertion({"violations": "no", "message": "privileged"}, VIOLATIONS) is not None
    assert check_assertion({"violations": False}, []) is None
    assert check_assertion({"violations": "yes", "message": "^other"}, VIOLATIONS) is None
    assert check_assertion({"message": "absent"}, VIOLATIONS) is not None


def test_match_on_kinds_and_namespaces() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "kube-system"}}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "shop"}}
    match = {"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}], "excludedNamespaces": ["kube-*"]}
    assert not matches(match, pod)
    assert not matches(match, deployment)
    assert matches({"kinds": [{"apiGroups": ["apps"], "kinds": ["*"]}]}, deployment)
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}
    assert not matches({"excludedNamespaces": ["kube-system"]}, namespace)


def test_inventory_layout() -> None:
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "d", "namespace": "shop"}},
    ]
    inventory = inventory_of(objects)
    assert inventory["cluster"]["v1"]["Namespace"]["shop"] is objects[0]
    assert inventory["namespace"]["shop"]["networking.k8s.io/v1"]["NetworkPolicy"]["d"] is objects[1]
