import time

import pytest

from scanner.load import yaml_source
from scanner.load.yaml_source import YamlLoadError, parse_documents

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web, "n": 1}
spec:
  containers:
  - name: app
    image: nginx
    securityContext:
      privileged: true
      runAsUser: 0
"""


def test_every_field_has_its_line_and_column():
    (doc,) = parse_documents(POD)
    assert doc.value["spec"]["containers"][0]["securityContext"]["runAsUser"] == 0
    pos = doc.positions[("spec", "containers", 0, "securityContext", "privileged")]
    assert (pos.line, pos.column, pos.end_line, pos.end_column) == (11, 7, 11, 23)
    assert doc.positions[("spec", "containers", 0)].line == 8
    assert doc.positions[("metadata", "labels", "app")].line == 5
    assert doc.positions[()].line == 1


def test_scalars_are_typed_like_yaml_safe_load():
    (doc,) = parse_documents("a: 1\nb: true\nc: ~\nd: 1.5\ne: '1'\nf: 0x10\ng: 2024-01-02\nh: yes\n")
    assert doc.value == {"a": 1, "b": True, "c": None, "d": 1.5, "e": "1", "f": 16, "g": "2024-01-02", "h": True}


def test_empty_documents_are_skipped_but_counted_in_the_index():
    docs = list(parse_documents("---\n---\na: 1\n---\n~\n---\nb: 2\n"))
    assert [d.value for d in docs] == [{"a": 1}, {"b": 2}]
    assert docs[1].index > docs[0].index


def test_json_is_parsed_with_positions():
    (doc,) = parse_documents('{\n  "kind": "Pod",\n  "spec": {"hostPID": true}\n}\n')
    assert doc.value["spec"]["hostPID"] is True
    assert doc.positions[("spec", "hostPID")].line == 3


def test_syntax_error_names_the_line():
    with pytest.raises(YamlLoadError) as err:
        list(parse_documents("a: 1\nb: [1, 2\nc: 3\n"))
    assert err.value.line == 3
    assert "invalid YAML" in err.value.message


def test_merge_keys_are_applied():
    (doc,) = parse_documents("base: &b {x: 1, z: 2}\nother:\n  <<: *b\n  z: 3\n")
    assert doc.value["other"] == {"x": 1, "z": 3}


def test_billion_laughs_is_rejected_quickly():
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    started = time.monotonic()
    with pytest.raises(YamlLoadError, match="alias expansion"):
        list(parse_documents("\n".join(lines) + "\n"))
    assert time.monotonic() - started < 10


def test_deep_nesting_is_rejected():
    text = "a: " + "[" * 300 + "]" * 300 + "\n"
    with pytest.raises(YamlLoadError, match="nesting"):
        list(parse_documents(text))


def test_huge_files_are_rejected(monkeypatch):
    monkeypatch.setattr(yaml_source, "MAX_FILE_BYTES", 1000)
    with pytest.raises(YamlLoadError, match="larger than"):
        list(parse_documents("a: " + "x" * 2000 + "\n"))


def test_a_repeated_key_keeps_its_first_place_and_the_later_position():
    (doc,) = parse_documents("a: {b: 1, c: 2}\nz: 0\na:\n  b: 3\n")
    assert doc.value == {"a": {"b": 3}, "z": 0}
    assert list(doc.positions) == [("a",), ("a", "b"), ("a", "c"), ("z",), ()]  # as a dict filled in order
    assert (doc.positions[("a",)].line, doc.positions[("a", "b")].line) == (3, 4)
    assert doc.positions[("a", "c")].line == 1  # the earlier value's field stays known, as before


def test_alias_fields_point_at_the_anchored_text():
    text = "labels: &l\n  app: web\n  tier: [a, &t b]\nselector: *l\nsame: *t\nlist: [*l, x]\n"
    (doc,) = parse_documents(text)
    assert doc.value["selector"] == doc.value["list"][0] == {"app": "web", "tier": ["a", "b"]}
    assert doc.value["same"] == "b"
    for prefix in (("selector",), ("list", 0)):
        assert doc.positions[(*prefix, "app")] == doc.positions[("labels", "app")]
        assert doc.positions[(*prefix, "tier", 1)] == doc.positions[("labels", "tier", 1)]
    assert doc.positions[("selector",)].line == 4 and doc.positions[("list", 1)].column == 12


def test_merged_fields_are_positioned_at_their_source_and_explicit_keys_win():
    (doc,) = parse_documents("base: &b {x: 1, z: 2}\nother:\n  <<: *b\n  z: 3\n")
    assert doc.positions[("other", "x")] == doc.positions[("base", "x")]
    assert doc.positions[("other", "z")].line == 4


@pytest.mark.parametrize("anchor", ["", "&a "])
@pytest.mark.parametrize("limit", [1, 2, 3, 4, 6, 9])
def test_the_node_budget_stops_at_the_node_that_exceeds_it(anchor, limit):
    """Nodes are counted one by one (keys included), with or without anchors in the document."""
    text = f"a: {anchor}1\nb:\n  - x\n  - {{c: 2}}\nd: 4\n"
    budget = yaml_source.NodeBudget()
    budget.per_document = limit
    items = list(yaml_source.parse_stream(text, budget))
    # nodes in order: root(1) a(1) 1(1) b(2) seq(3) x(3) map(4) c(4) 2(4) d(5) 4(5) -> the line of node limit+1
    lines = [1, 1, 1, 2, 3, 3, 4, 4, 4, 5, 5]
    assert [(type(item).__name__, item.line) for item in items] == [("YamlLoadError", lines[limit])]
    assert budget.run_left == budget.per_run - (limit + 1)
