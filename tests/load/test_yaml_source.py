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
