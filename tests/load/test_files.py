import io
import sys

from scanner.load.files import display_path, load_paths, load_text


def test_multi_document_list_and_non_kubernetes(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n"
        "just: data\n---\n"
        "apiVersion: v1\nkind: List\nitems:\n"
        "- apiVersion: v1\n  kind: Secret\n  metadata:\n    name: s\n"
        "- 42\n"
    )
    result = load_paths([str(f)])
    assert [r.identity.display() for r in result.resources] == ["ConfigMap a", "Secret s"]
    secret = result.resources[1]
    assert secret.locate(("metadata", "name"))[1].line == 13
    assert secret.positions[()].line == 10
    reasons = sorted((s.line, s.reason) for s in result.skipped)
    assert reasons == [(5, "not a Kubernetes object (no apiVersion/kind)"), (14, "List item is not a Kubernetes object")]
    assert result.errors == []


def test_directory_walk_is_sorted_and_skips_helm_charts(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.yml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n")
    (tmp_path / "a.json").write_text('{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}')
    (tmp_path / "notes.txt").write_text("ignored: not a manifest suffix")
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("name: c\n")
    (chart / "templates" / "d.yaml").write_text("{{ .Values.x }}\n")
    result = load_paths([str(tmp_path)])
    assert [r.name for r in result.resources] == ["a", "b"]
    assert result.errors == []
    assert len(result.skipped) == 1 and "Helm chart" in result.skipped[0].reason


def test_bad_yaml_is_an_error_and_other_files_still_load(tmp_path):
    (tmp_path / "bad.yaml").write_text("apiVersion: v1\nkind: [\n")
    (tmp_path / "good.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: g}\n")
    result = load_paths([str(tmp_path)])
    assert [r.name for r in result.resources] == ["g"]
    (error,) = result.errors
    assert error.path.endswith("bad.yaml") and error.line == 3
    assert str(error).endswith(f"bad.yaml:3: {error.message}")


def test_missing_path_and_binary_file(tmp_path):
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00")
    result = load_paths([str(tmp_path / "nope.yaml"), str(tmp_path / "bin.yaml")])
    messages = [e.message for e in result.errors]
    assert messages[0] == "no such file or directory"
    assert messages[1].startswith("not UTF-8")


def test_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"))
    result = load_paths(["-"])
    assert result.resources[0].path == "<stdin>"
    assert result.resources[0].origin == "stdin"


def test_paths_are_relative_to_the_repository(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    (tmp_path / "sub").mkdir()
    target = tmp_path / "sub" / "x.yaml"
    target.write_text("")
    monkeypatch.chdir(tmp_path / "sub")
    assert display_path(target) == "sub/x.yaml"


def test_partial_file_keeps_documents_before_the_error():
    result = load_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n---\nkey: [\n", "f.yaml")
    assert [r.name for r in result.resources] == ["ok"]
    assert result.errors[0].line == 6
