"""Rules of the shipped library that read only data.inventory are evaluated once per engine and handed back under
`data.inventory["kguard.io/precomputed"]` (issue 16: a review must not cost time in proportion to the inventory)."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from scanner.engine.catalogue import default_policy_dir, load_catalogue
from scanner.engine.regorus_backend import _PRECOMPUTED_REF, PRECOMPUTED, RegorusBackend, _engine
from scanner.engine.review import inventory, review
from scanner.engine.templates import Template, from_policy
from scanner.model import Resource

LIBRARY = [from_policy(policy)[0] for policy in load_catalogue(default_policy_dir())]
PRECOMPUTING = [t for t in LIBRARY if _PRECOMPUTED_REF.search(t.rego or "")]
AUTOMOUNT = next(t for t in LIBRARY if t.kind == "KguardRbacAutomountUnusedToken")


def _res(obj: dict) -> Resource:
    return Resource(obj=obj, path="inventory.yaml")


def _binding(namespace: str, name: str, *subjects: dict) -> Resource:
    return _res({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                 "metadata": {"name": name, "namespace": namespace},
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
                 "subjects": list(subjects)})


def _account(namespace: str, name: str) -> Resource:
    return _res({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}})


def _deployment(namespace: str, account: str) -> Resource:
    return _res({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": account, "namespace": namespace},
                 "spec": {"template": {"spec": {"serviceAccountName": account,
                                                "containers": [{"name": "app", "image": "app:1"}]}}}})


def _namespace(name: str, environment: str) -> Resource:
    return _res({"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": name, "labels": {"environment": environment}}})


INVENTORY = [
    _namespace("shop", "production"), _namespace("qa", "staging"), _namespace("ops", "production"),
    _account("shop", "api"), _account("shop", "reporter"), _account("qa", "tester"), _account("ops", "idle"),
    _binding("payments", "reporter-reads-payments", {"kind": "ServiceAccount", "name": "reporter",
                                                     "namespace": "shop"}),
    _binding("ops", "ops-local", {"kind": "ServiceAccount", "name": "idle"}),  # namespace: the binding's own
    _binding("audit", "all-of-qa", {"kind": "Group", "name": "system:serviceaccounts:qa"}),
    _binding("audit", "odd-subjects", "not a subject", {"kind": "ServiceAccount", "name": 7}, {"kind": "User"}),
]
REVIEWED = [_deployment("shop", "api"), _deployment("shop", "reporter"), _deployment("ops", "idle"),
            _deployment("qa", "tester")]


def _input(res: Resource) -> str:
    return json.dumps({"parameters": {}, "review": review(res.obj, None)})


def test_the_library_precomputes_the_automount_index_and_nothing_it_does_not_own() -> None:
    assert [t.kind for t in PRECOMPUTING] == ["KguardRbacAutomountUnusedToken", "KguardSegCrossEnvironment"]
    for template in PRECOMPUTING:  # a template may hand back only rules of its own package
        assert {package for package, _ in _PRECOMPUTED_REF.findall(template.rego or "")} == {template.package}


@pytest.mark.parametrize("template", PRECOMPUTING, ids=lambda t: t.kind)
def test_a_precomputed_rule_has_one_value_whatever_the_input(template: Template) -> None:
    """Handing a value back is only right for a rule that does not read the reviewed object: evaluated without the
    key, under every reviewed input and none, it must give the same value."""
    engine = _engine(template.rego_version)
    engine.add_data_json(json.dumps({"inventory": inventory([*INVENTORY, *REVIEWED])}))
    for lib in template.libs:
        engine.add_policy(f"lib-{hash(lib)}.rego", lib)
    engine.add_policy("template.rego", template.rego or "")
    for _, rule in _PRECOMPUTED_REF.findall(template.rego or ""):
        values = set()
        for text in ["{}", *(_input(r) for r in REVIEWED)]:
            engine.set_input_json(text)
            values.add(engine.eval_rule_as_json(f"data.{template.package}.{rule}"))
        assert len(values) == 1, f"{template.kind}: {rule} depends on the input"
        assert json.loads(values.pop())  # and it indexes something here


def _violations(backend: RegorusBackend) -> list[list[str]]:
    units = [((AUTOMOUNT.kind,), _input(r)) for r in REVIEWED]
    return [[v["msg"] for v in result[AUTOMOUNT.kind]] for result in backend.evaluate_units(units)]


def test_reviews_read_the_handed_back_index_with_the_same_verdicts() -> None:
    trusted, untrusted = RegorusBackend(), RegorusBackend()
    data = inventory([*INVENTORY, *REVIEWED])
    try:
        trusted.load([AUTOMOUNT], data)
        with_index = _violations(trusted)
        (shared,) = trusted._shared
        handed = json.loads(shared.engine.eval_query_as_json(f'x := data.inventory["{PRECOMPUTED}"]'))
        index = handed["result"][0]["bindings"]["x"][AUTOMOUNT.package]["rolebinding_subjects"]
        assert set(index) == {'["ServiceAccount","shop","reporter"]', '["ServiceAccount","ops","idle"]',
                              '["Group","system:serviceaccounts:qa"]',
                              '["ServiceAccount","audit",7]'}  # kept as a number: never an account's name

        untrusted.load([dataclasses.replace(AUTOMOUNT, trusted=False)], data)  # a user template: no index
        without_index = _violations(untrusted)
        for shared in untrusted._shared:
            assert "kguard.io/precomputed" not in shared.engine.eval_query_as_json("x := data.inventory")
    finally:
        trusted.close()
        untrusted.close()
    # shop/api: no binding anywhere; shop/reporter: bound in payments; ops/idle: bound in its own namespace;
    # qa/tester: covered by the group of qa's accounts, bound in audit
    assert with_index == without_index
    assert [bool(v) for v in with_index] == [True, False, False, False]
    assert re.search(r"ServiceAccount shop/api", with_index[0][0])


CROSS = next(t for t in LIBRARY if t.kind == "KguardSegCrossEnvironment")


def _policy(name: str, *peers: dict) -> Resource:
    return _res({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                 "metadata": {"name": name, "namespace": "shop"},
                 "spec": {"podSelector": {}, "ingress": [{"from": list(peers)}]}})


def test_cross_environment_reviews_read_the_handed_back_namespace_index_with_the_same_verdicts() -> None:
    policies = [
        _policy("by-environment", {"namespaceSelector": {"matchLabels": {"environment": "staging"}}}),
        _policy("by-name", {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "qa"}}}),
        _policy("by-expression", {"namespaceSelector": {"matchExpressions": [
            {"key": "environment", "operator": "NotIn", "values": ["production"]}]}}),
        _policy("same-environment", {"namespaceSelector": {"matchLabels": {"environment": "production"}}}),
        _policy("unknown-name", {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "nowhere"}}}),
        _policy("everywhere", {"namespaceSelector": {}}),
    ]
    data = inventory([*INVENTORY, *policies])
    units = [((CROSS.kind,), json.dumps({"parameters": {"protectedEnvironments": ["production"]},
                                          "review": review(p.obj, None)})) for p in policies]
    trusted, untrusted = RegorusBackend(), RegorusBackend()
    try:
        trusted.load([CROSS], data)
        untrusted.load([dataclasses.replace(CROSS, trusted=False)], data)
        with_index = [sorted(v["msg"] for v in r[CROSS.kind]) for r in trusted.evaluate_units(units)]
        without_index = [sorted(v["msg"] for v in r[CROSS.kind]) for r in untrusted.evaluate_units(units)]
        (shared,) = trusted._shared
        assert "namespaces_by_environment" in shared.engine.eval_query_as_json(
            f'x := data.inventory["{PRECOMPUTED}"]["{CROSS.package}"]')
    finally:
        trusted.close()
        untrusted.close()
    assert with_index == without_index
    assert [len(v) for v in with_index] == [1, 1, 1, 0, 0, 1]  # qa is the only namespace of another environment
    assert all("namespace qa (environment staging)" in v[0] for v in with_index if v)


def test_workers_share_the_library_compiled_before_they_fork() -> None:
    """`runner.run` with workers: the trusted templates (and their precomputed rules) are compiled in this process
    right before the fork (`before_fork`), once, and the workers' verdicts are those of an in-process evaluation."""
    from scanner.engine import runner

    units = [((AUTOMOUNT.kind,), _input(r)) for r in REVIEWED] * 3
    forked, alone = RegorusBackend(), RegorusBackend()
    data = inventory([*INVENTORY, *REVIEWED])
    try:
        forked.load([AUTOMOUNT], data)
        assert not forked._home  # trusted: nothing compiled until it is needed
        result = runner.run(forked, units, timeout=60, workers=2)
        assert set(forked._home) == {AUTOMOUNT.kind}  # compiled here, before the workers forked
        alone.load([AUTOMOUNT], data)
        expected = {i: outcome for i, outcome in enumerate(alone.evaluate_units(units)) if any(outcome.values())}
        assert result.outcomes == expected and not result.errors
        assert len(expected) == 3  # the api Deployment (its account has no binding), reviewed three times
    finally:
        forked.close()
        alone.close()


def _prepared(monkeypatch: pytest.MonkeyPatch, fail_on: str = "") -> tuple[list, dict, int]:
    """Verdicts, precomputed values and how many templates an interpreter precomputed for, with a backend that ran
    `prepare` (the RVM evaluates), its program failing on entry points containing ``fail_on``."""
    from scanner.engine import regorus_backend
    from scanner.engine.regorus_rvm import Program

    by_interpreter = []
    original_precompute = regorus_backend._precompute
    monkeypatch.setattr(regorus_backend, "_precompute",
                        lambda shared, template, *args: by_interpreter.append(template.kind)
                        or original_precompute(shared, template, *args))
    if fail_on:
        original = Program.values_once

        def failing(self, entry_points, data_json: str):  # the VM failed on these: left out
            return {k: v for k, v in original(self, entry_points, data_json).items() if fail_on not in k}

        monkeypatch.setattr(Program, "values_once", failing)
    backend = RegorusBackend()
    units = [((AUTOMOUNT.kind,), _input(r)) for r in REVIEWED]
    try:
        backend.load([AUTOMOUNT], inventory([*INVENTORY, *REVIEWED]))
        backend.prepare(units)
        verdicts = [[v["msg"] for v in result[AUTOMOUNT.kind]] for result in backend.evaluate_units(units)]
        (shared,) = backend._shared
        return verdicts, shared.precomputed, len(by_interpreter)
    finally:
        backend.close()


def test_the_vm_computes_the_precomputed_rules_without_parsing_a_module(monkeypatch: pytest.MonkeyPatch) -> None:
    interpreter = RegorusBackend()
    try:
        interpreter.load([AUTOMOUNT], inventory([*INVENTORY, *REVIEWED]))
        expected = _violations(interpreter)
        (shared,) = interpreter._shared
        by_interpreter = shared.precomputed
    finally:
        interpreter.close()
    verdicts, on_vm, interpreted = _prepared(monkeypatch)
    assert interpreted == 0  # no interpreter parsed the modules: the program computed the index
    assert on_vm == by_interpreter and on_vm[AUTOMOUNT.package]["rolebinding_subjects"]
    assert verdicts == expected and [bool(v) for v in verdicts] == [True, False, False, False]
    # the VM failing on the rule: an interpreter computes it, and the verdicts stay
    verdicts, fallback, interpreted = _prepared(monkeypatch, fail_on="rolebinding_subjects")
    assert interpreted == 1 and fallback == by_interpreter and verdicts == expected
    # a large inventory: an interpreter computes it (regorus' VM would keep much more memory for it)
    from scanner.engine import regorus_backend

    monkeypatch.setattr(regorus_backend, "VM_PRECOMPUTE_MAX_INVENTORY_BYTES", 100)
    verdicts, large, interpreted = _prepared(monkeypatch)
    assert interpreted == 1 and large == by_interpreter and verdicts == expected
