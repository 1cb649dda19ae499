"""Finding identity (`scanner.model.fingerprint`): what makes two findings distinct, and what must not."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.model import Resource, ResourceId, fingerprint
from scanner.scan import ScanOptions, scan_paths

WEB = ResourceId(api_version="apps/v1", kind="Deployment", name="web", namespace="staging")
PATH = ("spec", "template", "spec", "containers", 0, "securityContext", "privileged")
BASE = ("pss-privileged", WEB, PATH, 'container "app" is privileged', "a.yaml#0")


@pytest.mark.parametrize(("what", "changed"), [
    ("rule", ("pss-host-namespaces", *BASE[1:])),
    ("namespace", (BASE[0], ResourceId(api_version="apps/v1", kind="Deployment", name="web", namespace="production"),
                   *BASE[2:])),
    ("no namespace", (BASE[0], ResourceId(api_version="apps/v1", kind="Deployment", name="web"), *BASE[2:])),
    ("kind", (BASE[0], ResourceId(api_version="apps/v1", kind="StatefulSet", name="web", namespace="staging"),
              *BASE[2:])),
    ("group", (BASE[0], ResourceId(api_version="argoproj.io/v1alpha1", kind="Deployment", name="web",
                                   namespace="staging"), *BASE[2:])),
    ("name", (BASE[0], ResourceId(api_version="apps/v1", kind="Deployment", name="api", namespace="staging"),
              *BASE[2:])),
    ("field", (*BASE[:2], (*PATH[:4], 1, *PATH[5:]), *BASE[3:])),
    ("message", (*BASE[:3], 'container "sidecar" is privileged', BASE[4])),
    ("file", (*BASE[:4], "b.yaml#0")),
    ("copy in one file", (*BASE[:4], "a.yaml#1")),
])
def test_every_part_of_the_identity_keeps_findings_apart(what: str, changed: tuple) -> None:
    assert fingerprint(*changed) != fingerprint(*BASE), what


def test_the_same_finding_has_the_same_fingerprint() -> None:
    again = ResourceId(api_version="apps/v1", kind="Deployment", name="web", namespace="staging")
    assert fingerprint(*BASE) == fingerprint("pss-privileged", again, list(PATH), BASE[3], BASE[4])
    assert fingerprint(*BASE) == fingerprint(*BASE[:2], PATH, BASE[3], BASE[4])
    assert len(fingerprint(*BASE)) == 32 and int(fingerprint(*BASE), 16) >= 0
    # the version of the group does not change the identity: apps/v1beta2 and apps/v1 are one object
    moved = ResourceId(api_version="apps/v1beta2", kind="Deployment", name="web", namespace="staging")
    assert fingerprint(BASE[0], moved, *BASE[2:]) == fingerprint(*BASE)


def test_field_separators_cannot_be_forged_by_names() -> None:
    a = fingerprint("r", ResourceId(api_version="v1", kind="Pod", name="a-b", namespace="x"), ())
    b = fingerprint("r", ResourceId(api_version="v1", kind="Pod", name="b", namespace="x-a"), ())
    assert a != b
    assert fingerprint("r", WEB, ("a", "b")) != fingerprint("r", WEB, ("a.b",))
    assert fingerprint("r", WEB, (0,)) != fingerprint("r", WEB, ("0",))


PRIVILEGED_POD = """apiVersion: v1
kind: Pod
metadata: {{name: web, namespace: {ns}}}
spec:
  containers:
  - name: app
    image: nginx
    securityContext:
      privileged: true
"""


def _scan(*files: Path) -> list:
    result = scan_paths([str(f) for f in files], ScanOptions(select=["pss-privileged"], analyses=False))
    assert not result.input_errors and not result.policy_errors
    return result.findings


def test_staging_and_production_copies_stay_two_findings(tmp_path: Path) -> None:
    both = tmp_path / "both.yaml"
    both.write_text(PRIVILEGED_POD.format(ns="staging") + "---\n" + PRIVILEGED_POD.format(ns="production"))
    findings = _scan(both)
    assert sorted(f.resource.namespace for f in findings) == ["production", "staging"]
    assert len({f.fingerprint for f in findings}) == 2


def test_moved_lines_keep_the_fingerprint_and_another_file_does_not(tmp_path: Path) -> None:
    first, other = tmp_path / "a.yaml", tmp_path / "c.yaml"
    first.write_text(PRIVILEGED_POD.format(ns="staging"))
    (before,) = _scan(first)
    first.write_text("# a comment\n\n" + PRIVILEGED_POD.format(ns="staging").replace("image: nginx", "image: nginx:1"))
    (after,) = _scan(first)
    assert after.location.line == before.location.line + 2
    assert after.fingerprint == before.fingerprint
    other.write_text(PRIVILEGED_POD.format(ns="staging"))
    (elsewhere,) = _scan(other)
    assert elsewhere.fingerprint != before.fingerprint


def test_severities_are_five_distinct_ordered_levels() -> None:
    from scanner.model import Severity

    assert list(Severity) == [Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]
    assert [int(s) for s in Severity] == [0, 1, 2, 3, 4]
    assert Severity.parse(" high ") is Severity.HIGH
    with pytest.raises(ValueError, match="unknown severity 'severe'"):
        Severity.parse("severe")


def test_resource_id_group_and_display() -> None:
    assert WEB.group == "apps"
    assert ResourceId(api_version="v1", kind="Pod", name="p").group == ""
    assert ResourceId(api_version="rbac.authorization.k8s.io/v1", kind="Role", name="r").group == \
        "rbac.authorization.k8s.io"
    assert WEB.display() == "Deployment staging/web"
    assert ResourceId(api_version="v1", kind="Namespace", name="shop").display() == "Namespace shop"


def _result(*severities, suppressed: bool = False, errors: bool = False):
    import dataclasses

    from scanner.model import InputError, Location, ScanResult, Suppression
    from tests.report.report_sample import build_result

    template = build_result().findings[0]
    suppression = Suppression(kind="external", justification="accepted until the migration") if suppressed else None
    findings = [dataclasses.replace(template, severity=s, suppression=suppression,
                                    location=Location(path="a.yaml", line=1, column=1, end_line=1, end_column=2))
                for s in severities]
    return ScanResult(findings=findings, input_errors=[InputError(path="a.yaml", message="bad")] if errors else [])


def test_exit_code_contract() -> None:
    from scanner.model import Severity

    assert _result(Severity.HIGH).exit_code(None) == 0  # --fail-on none
    assert _result(Severity.HIGH).exit_code(Severity.HIGH) == 1
    assert _result(Severity.MEDIUM).exit_code(Severity.HIGH) == 0
    assert _result(Severity.CRITICAL).exit_code(Severity.HIGH) == 1
    assert _result(Severity.LOW).exit_code(Severity.LOW) == 1
    assert _result(Severity.INFO).exit_code(Severity.INFO) == 0  # info never fails a scan
    assert _result(Severity.HIGH, suppressed=True).exit_code(Severity.LOW) == 0
    assert _result().exit_code(Severity.INFO) == 0
    assert _result(errors=True).exit_code(None) == 2
    assert _result(Severity.CRITICAL, errors=True).exit_code(Severity.HIGH) == 2


def test_locate_falls_back_to_the_deepest_known_prefix_then_the_object() -> None:
    from scanner.load.files import load_text
    from scanner.model import Position

    (res,) = load_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: []\n", "p.yaml").resources
    assert res.locate(("spec", "containers", 0, "image"))[1].line == 5
    assert res.locate(("status", "phase")) == ("p.yaml", res.positions[()])
    res.positions = {}  # no known position at all: the first line
    assert res.locate(("spec",)) == ("p.yaml", Position(1, 1, 1, 1))
    res.blame = lambda path: ("overlay/kustomization.yaml", Position(7, 3, 7, 9))
    assert res.locate(("spec",)) == ("overlay/kustomization.yaml", Position(7, 3, 7, 9))


def test_value_types_are_immutable_hashable_and_built_by_keyword() -> None:
    import dataclasses

    from scanner.model import InputError, Location, PolicyError, RelatedLocation, Severity, Skipped, Suppression

    values = [
        Location(path="a.yaml", line=1, column=1, end_line=1, end_column=2),
        RelatedLocation(resource=WEB, location=None, message="m"),
        Suppression(kind="inSource", justification="reviewed by the platform team"),
        Skipped(path="a.yaml", reason="r"),
        InputError(path="a.yaml", message="m"),
        PolicyError(policy="p", message="m"),
        _result(Severity.HIGH).findings[0],
        WEB,
    ]
    for value in values:
        assert hash(value) == hash(dataclasses.replace(value))
        with pytest.raises(dataclasses.FrozenInstanceError):
            value.__setattr__(dataclasses.fields(value)[0].name, "x")
        with pytest.raises(TypeError):
            type(value)(*[getattr(value, f.name) for f in dataclasses.fields(value)])


def test_defaults_of_a_resource_and_an_empty_result() -> None:
    from scanner.model import Resource, ScanResult

    res = Resource(obj={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}, path="cluster/p")
    assert (res.doc_index, res.origin, res.positions, res.parent) == (0, "file", {}, None)  # one object: document 0
    empty = ScanResult(findings=[])
    assert (empty.resources, empty.scanned, empty.input_errors, empty.category) == (0, [], [], "kguard")


def test_an_input_error_reads_as_file_line_message() -> None:
    from scanner.model import InputError

    assert str(InputError(path="a.yaml", line=3, message="bad")) == "a.yaml:3: bad"
    assert str(InputError(path="a.yaml", message="bad")) == "a.yaml: bad"


def _positions_and_dict(fields: list[tuple[tuple, tuple[int, int, int, int]]], line_base: int = 1):
    """A `Positions` and the dict it stands for, filled in the same order (a repeated path overwrites)."""
    from scanner.model import FIELD_PATHS, Position, Positions

    expected: dict = {}
    numbered: dict = {}
    for path, (line, column, end_line, end_column) in fields:
        expected[path] = Position(line + line_base, column + 1, end_line + line_base, end_column + 1)
        numbered[FIELD_PATHS.add(path)] = (line, column, end_line, end_column)
    return Positions(numbered, line_base), expected


def test_positions_behave_like_the_dict_they_replace() -> None:
    import random

    rng = random.Random(7)
    keys = ["metadata", "name", "spec", "containers", "1", "", "é", 0, 1, 2, 10]
    for _ in range(200):
        fields = []
        for _ in range(rng.randint(0, 40)):
            path = tuple(rng.choice(keys) for _ in range(rng.randint(0, 5)))
            fields.append((path, tuple(rng.randint(0, 70_000) for _ in range(4))))
        positions, expected = _positions_and_dict(fields, line_base=rng.randint(1, 500))
        assert list(positions.items()) == list(expected.items())  # first-recorded order, later values
        assert list(positions) == list(expected) and len(positions) == len(expected)
        assert positions == expected and dict(positions) == expected
        for path, _ in fields:
            for probe in (path, path[:-1], (*path, "missing"), (*path, 3), ("never", "seen")):
                assert positions.get(probe) == expected.get(probe)
                assert (probe in positions) == (probe in expected)
                if probe in expected:
                    assert positions[probe] == expected[probe]
                else:
                    with pytest.raises(KeyError):
                        positions[probe]


def test_positions_take_two_bytes_a_number_when_all_fit_and_four_otherwise() -> None:
    import sys

    small = [(("spec", "containers", i, "name"), (i, 4, i, 65_535)) for i in range(30)]
    large = [*small[:-1], (small[-1][0], (65_536, 0, 65_536, 3))]  # one number past two bytes
    for fields in (small, large):
        positions, expected = _positions_and_dict(fields, line_base=7)
        assert list(positions.items()) == list(expected.items()) and len(positions) == 30
        assert positions[("spec", "containers", 29, "name")] == expected[("spec", "containers", 29, "name")]
    compact, wide = _positions_and_dict(small)[0], _positions_and_dict(large)[0]
    assert sys.getsizeof(compact._data) < sys.getsizeof(wide._data) * 0.6


def test_positions_edge_cases_match_a_dict() -> None:
    from scanner.model import Position

    positions, expected = _positions_and_dict([((), (0, 0, 3, 0)), (("items", 0), (1, 2, 1, 9)),
                                               (("a", "b"), (2, 4, 2, 5))])
    assert positions.get(("items", 0.0)) == expected.get(("items", 0.0)) == Position(2, 3, 2, 10)  # 0.0 == 0
    assert positions.get("a") is None and "a" not in positions and positions.get("a", 5) == 5  # not a tuple
    for bad in (["a"], ("a", ["b"])):
        with pytest.raises(TypeError):
            positions.get(bad)  # unhashable, as for a dict
        with pytest.raises(TypeError):
            expected.get(bad)
    empty, nothing = _positions_and_dict([])
    assert empty == nothing == {} and not empty and empty.get(()) is None and list(empty.items()) == []
    assert "Position(line=1" in repr(positions)


def test_positions_below_a_prefix_are_re_rooted_per_key() -> None:
    positions, expected = _positions_and_dict([
        ((), (0, 0, 9, 0)), (("kind",), (0, 0, 0, 10)), (("items",), (1, 0, 1, 6)),
        (("items", 0), (2, 2, 4, 0)), (("items", 0, "metadata", "name"), (3, 4, 3, 12)),
        (("items", 1), (5, 2, 6, 0)), (("itemsx", 0), (7, 0, 7, 3)), (("items", "stale"), (8, 0, 8, 3)),
    ], line_base=11)
    groups = positions.below(("items",))
    assert list(groups) == [0, 1, "stale"]
    for key, group in groups.items():
        assert dict(group) == {path[2:]: pos for path, pos in expected.items() if path[:2] == ("items", key)}
    assert groups[0][("metadata", "name")].line == 3 + 11
    assert positions.below(("nothing",)) == {}


def test_positions_pickle_with_their_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    import pickle

    import scanner.model
    from scanner.model import PathTable

    positions, expected = _positions_and_dict([((), (0, 0, 2, 0)), (("spec", "containers", 0), (1, 2, 1, 8))])
    data = pickle.dumps(positions)
    monkeypatch.setattr(scanner.model, "FIELD_PATHS", PathTable())  # another process numbers paths its own way
    scanner.model.FIELD_PATHS.add(("other", "paths", "first"))
    assert dict(pickle.loads(data)) == expected


def test_path_numbers_are_shared_and_found_by_equal_keys() -> None:
    from scanner.model import PathTable

    table = PathTable()
    spec = table.child(table.ROOT, "spec")
    first = table.child(spec, 0)
    assert table.add(("spec", 0)) == first and table.paths[first] == ("spec", 0)
    assert table.find(("spec", 0)) == first and table.find(("spec", "0")) is None and table.find(("spec", 1)) is None
    assert table.find(()) == table.ROOT


def test_the_identity_key_is_one_object_in_any_api_version() -> None:
    """`Resource.key` / `ResourceId.key`: (group, kind, namespace or "", name); the version never splits an object,
    everything else does, and the key of a resource is the key of its identity (generateName included)."""
    def res(api_version: str, kind: str = "Deployment", namespace: str | None = "shop", name: str = "api",
            name_field: str = "name") -> Resource:
        meta = {name_field: name, **({"namespace": namespace} if namespace else {})}
        return Resource(obj={"apiVersion": api_version, "kind": kind, "metadata": meta}, path="f.yaml")

    assert res("apps/v1").key == res("apps/v1beta2").key == ("apps", "Deployment", "shop", "api")
    assert res("v1", "Namespace", None, "shop").key == ("", "Namespace", "", "shop")
    distinct = [res("apps/v1"), res("extensions/v1beta1"), res("apps/v1", "StatefulSet"),
                res("apps/v1", namespace="prod"), res("apps/v1", name="web"), res("apps/v1", namespace=None)]
    assert len({r.key for r in distinct}) == len(distinct)
    for r in [*distinct, res("batch/v1", "Job", name="run-", name_field="generateName")]:
        assert r.key == r.identity.key


def test_path_numbers_stay_consistent_when_threads_add_paths_at_once() -> None:
    import sys
    import threading

    from scanner.model import PathTable

    table = PathTable()
    keys = [f"k{n}" for n in range(300)]
    results: list[list[int]] = []

    def add(order: list[str]) -> None:
        results.append([table.child(table.child(table.ROOT, "spec"), key) for key in order])

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often
    try:
        threads = [threading.Thread(target=add, args=(keys[::step],)) for step in (1, -1, 2, -2, 3, 1, -1, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert len(table.paths) == 1 + 1 + len(keys)  # root, spec, spec.k*: each numbered once
    for numbers in results:
        assert len(set(numbers)) == len(numbers)
        assert all(table.paths[n][0] == "spec" and table.find(table.paths[n]) == n for n in numbers)
