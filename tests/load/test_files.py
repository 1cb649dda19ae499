import io
import os
import sys
import time
from pathlib import Path

import pytest

from scanner.load import files, yaml_source
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


# --- one bad document never loses the others (issue 10) ---------------------------------------------------------

MIXED = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: first}
---
apiVersion: v1
kind: Secret
metadata: {name: templated}
stringData:
  token: {{HF_TOKEN}}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: second
---
apiVersion: v1
kind: ConfigMap
metadata:
\tname: tabbed
---
apiVersion: v1
kind: ConfigMap
metadata: {name: third}
? [not, hashable]
: value
---
apiVersion: v1
kind: Pod
metadata:
  name: last
spec:
  containers:
  - name: c
    securityContext: {privileged: true}
"""


def test_every_good_document_survives_the_bad_ones_with_exact_positions():
    result = load_text(MIXED, "mixed.yaml")
    assert [r.name for r in result.resources] == ["first", "second", "last"]
    assert [(e.line, e.message.split(":")[0]) for e in result.errors] == [
        (9, "invalid map key"), (19, "invalid YAML"), (24, "invalid map key")]
    assert "template braces" in result.errors[0].message
    second, last = result.resources[1], result.resources[2]
    assert second.positions[()].line == 11 and second.locate(("metadata", "name"))[1].line == 14
    pos = last.locate(("spec", "containers", 0, "securityContext", "privileged"))[1]
    assert (pos.line, pos.column, pos.end_line, pos.end_column) == (34, 23, 34, 39)
    assert [r.doc_index for r in result.resources] == [0, 2, 5]


def test_an_error_in_the_first_document_keeps_the_rest():
    result = load_text("key: [\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n", "f.yaml")
    assert [r.name for r in result.resources] == ["ok"]
    assert [e.line for e in result.errors] == [2]


def test_content_on_the_separator_line_is_refused_like_kubectl():
    result = load_text("--- {apiVersion: v1, kind: Namespace}\n---\napiVersion: v1\nkind: Namespace\n"
                       "metadata: {name: ok}\n--- # a comment is fine\napiVersion: v1\nkind: Namespace\n"
                       "metadata: {name: ok2}\n", "f.yaml")
    assert [r.name for r in result.resources] == ["ok", "ok2"]
    (error,) = result.errors
    assert error.line == 1 and "invalid document separator" in error.message


def test_text_after_a_document_end_marker_is_recorded_not_scanned():
    result = load_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n...\nkind: Pod\n", "f.yaml")
    assert [r.name for r in result.resources] == ["a"]
    assert [(s.line, "ignored" in s.reason) for s in result.skipped] == [(4, True)]


# --- decoding as Kubernetes does (issue 11 item 9) ----------------------------------------------------------------

def test_values_and_keys_decode_as_kubernetes_decodes_them():
    text = ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
            "data: {a: y, b: off, c: 0777, d: 0o17, e: 1_000, f: 1:20, g: 1.0, h: 2001-12-14, i: ~, j: 0x1F}\n"
            "on: 1\ny: 2\n1.5: 3\n")
    (resource,) = load_text(text, "c.yaml").resources
    assert resource.obj["data"] == {"a": True, "b": False, "c": 511, "d": 15, "e": 1000, "f": "1:20", "g": 1,
                                    "h": "2001-12-14", "i": None, "j": 31}
    assert type(resource.obj["data"]["g"]) is int
    assert {"true": 2, "1.5": 3}.items() <= resource.obj.items()  # `on` and `y` are both true: the later wins
    assert resource.locate(("true",))[1].line == 6


# --- input that used to abort the whole run (issue 11 item 10) -----------------------------------------------------

@pytest.mark.parametrize(("document", "line", "message"), [
    ("metadata: [a]", 3, "metadata must be a mapping, not a list"),
    ("metadata: {labels: [a]}", 3, "metadata.labels must be a mapping, not a list"),
    ("metadata: {name: [x]}", 3, "metadata.name must be a string, not a list"),
    ("metadata:\n  labels:\n    app: 1", 5, "metadata.labels.app must be a string, not a number (quote it)"),
    ("metadata:\n  annotations: {ok: yes}", 4, "metadata.annotations.ok must be a string, not a boolean (quote it)"),
    ("metadata:\n  namespace: 5", 4, "metadata.namespace must be a string, not a number"),
    ("value: .nan", 3, ".nan is not a JSON number (Kubernetes cannot store it)"),
    ("value: -.inf", 3, "-.inf is not a JSON number (Kubernetes cannot store it)"),
    ("value: !!binary abc", 3, "!!binary value contains invalid base64 data"),
    ("value: !!int ''", 3, "cannot decode !!null `` as a !!int"),
    ("value: !!int " + "9" * 5000, 3, "cannot decode !!str `" + "9" * 40 + "...` as a !!int"),
    ("~: x", 3, "unsupported map key null"),
])
def test_malformed_documents_are_one_error_at_their_line(document, line, message):
    text = f"apiVersion: v1\nkind: ConfigMap\n{document}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: ok}}\n"
    result = load_text(text, "bad.yaml")
    assert [r.name for r in result.resources] == ["ok"]
    assert [(e.line, e.message) for e in result.errors] == [(line, message)]
    assert str(result.errors[0]) == f"bad.yaml:{line}: {message}"


@pytest.mark.parametrize(("head", "message"), [
    ("apiVersion: v1\nkind: [x]", "kind must be a string, not a list"),
    ("apiVersion: 5\nkind: Pod", "apiVersion must be a string, not a number"),
])
def test_identity_fields_must_be_strings(head, message):
    result = load_text(f"{head}\nmetadata: {{name: p}}\n", "bad.yaml")
    assert result.resources == []
    assert [(e.line, e.message) for e in result.errors] == [(1 if "apiVersion: 5" in head else 2, message)]


def test_values_go_leaves_as_text_stay_text():
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  big: " + "1" * 5000 + (
        "\n  huge: 1e+400\n  set: !!set foo\n  local: !foo bar\n")
    (resource,) = load_text(text, "c.yaml").resources
    assert resource.obj["data"] == {"big": "1" * 5000, "huge": "1e+400", "set": "foo", "local": "bar"}


def test_malformed_list_items_are_errors_at_their_line():
    text = ("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: a}\n"
            "- apiVersion: v1\n  kind: Namespace\n  metadata: {name: [b]}\n")
    result = load_text(text, "l.yaml")
    assert [r.name for r in result.resources] == ["a"]
    assert [(e.line, e.message) for e in result.errors] == [(9, "metadata.name must be a string, not a list")]


# --- resource exhaustion (issue 11 item 11) ------------------------------------------------------------------------

def _chain_document(width: int = 10) -> str:
    """A document of about 1,200 nodes built from a 10-element list through aliases (go-yaml's ratio allows it)."""
    real = "real: [" + ",".join(["1"] * 20) + "]\n"
    return real + "a: &a [" + ",".join(["x"] * width) + "]\nb: &b [" + ",".join(["*a"] * width) + "]\nc: [" + ",".join(
        ["*b"] * width) + "]\n"


def test_file_budget_stops_the_file_and_not_the_run(tmp_path, monkeypatch):
    monkeypatch.setattr(yaml_source, "MAX_NODES_PER_FILE", 5_000)
    (tmp_path / "a-bomb.yaml").write_text("---\n".join([_chain_document()] * 50))
    (tmp_path / "b-ok.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n")
    result = load_paths([str(tmp_path)])
    assert [r.name for r in result.resources] == ["ok"]
    (error,) = result.errors
    assert error.path.endswith("a-bomb.yaml") and "file expands to more than 5,000 nodes" in error.message


def test_run_budget_stops_reading_with_one_error_per_file(tmp_path, monkeypatch):
    monkeypatch.setattr(yaml_source, "MAX_NODES_PER_RUN", 2_000)
    (tmp_path / "a-ok.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n")
    for name in ("b.yaml", "c.yaml", "d.yaml"):
        (tmp_path / name).write_text(_chain_document())
    result = load_paths([str(tmp_path)])
    assert [r.name for r in result.resources] == ["ok"]
    assert [(Path(e.path).name, bool(e.line), e.message.split(";")[0]) for e in result.errors] == [
        ("c.yaml", True, "the input expands to more than 2,000 nodes in this run"),
        ("d.yaml", False, "not read: the input expands to more than 2,000 nodes in this run")]


def test_excessive_aliasing_fails_fast():
    doc = "a: &a [1,1,1,1,1,1,1,1,1,1]\n" + "".join(
        f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]\n" for prev, name in zip("abcd", "bcde", strict=True))
    started = time.monotonic()
    result = load_text("---\n".join([doc] * 200), "bomb.yaml")
    assert time.monotonic() - started < 20
    assert len(result.errors) == 200 and all("excessive aliasing" in e.message for e in result.errors)


def test_pipes_and_devices_are_skipped_unread(tmp_path):
    os.mkfifo(tmp_path / "fifo.yaml")
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    (tmp_path / "ok.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n")
    walked = load_paths([str(tmp_path)])
    named = load_paths([str(tmp_path / "fifo.yaml"), str(tmp_path / "zero.yaml"), str(tmp_path / "ok.yaml")])
    for result in (walked, named):
        assert [r.name for r in result.resources] == ["ok"]
        assert result.errors == []
    assert sorted((Path(s.path).name, s.reason) for s in walked.skipped) == [
        ("fifo.yaml", "a named pipe, not read"), ("zero.yaml", "symbolic link pointing outside the scanned directory, not read")]
    assert sorted((Path(s.path).name, s.reason) for s in named.skipped) == [
        ("fifo.yaml", "a named pipe, not read"), ("zero.yaml", "a character device, not read")]


def test_files_over_the_limit_are_not_read(tmp_path, monkeypatch):
    monkeypatch.setattr(yaml_source, "MAX_FILE_BYTES", 1000)
    monkeypatch.setattr(files, "MAX_FILE_BYTES", 1000)
    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:
        handle.truncate(10 * 1024 * 1024 * 1024)  # sparse: 10 GiB that would never fit in memory
    started = time.monotonic()
    result = load_paths([str(big)])
    assert time.monotonic() - started < 5
    assert [(Path(e.path).name, e.message) for e in result.errors] == [("big.yaml", "file larger than 0 MiB")]


def test_symlinked_directories_are_not_followed(tmp_path):
    tree = tmp_path / "repo"
    (tree / ".git").mkdir(parents=True)
    (tree / "app").mkdir()
    (tree / "app" / "ns.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: app}\n")
    (tree / "app" / "loop").symlink_to(tree / "app")
    (tree / "app" / "root").symlink_to("/")
    outside = tmp_path / "secret.yaml"
    outside.write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: outside}\n")
    (tree / "app" / "leak.yaml").symlink_to(outside)
    (tree / "app" / "inside.yaml").symlink_to(tree / "app" / "ns.yaml")
    result = load_paths([str(tree / "app")])
    assert [(r.name, Path(r.path).name) for r in result.resources] == [("app", "inside.yaml"), ("app", "ns.yaml")]
    assert sorted((Path(s.path).name, s.reason) for s in result.skipped) == [
        ("leak.yaml", "symbolic link pointing outside the repository, not read"),
        ("loop", "symbolic link to a directory, not followed"),
        ("root", "symbolic link to a directory, not followed"),
    ]


def test_list_items_carry_exactly_their_own_positions():
    item = "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: c{n}\n  data: {{a: '1', b: [x, y]}}\n"
    text = "apiVersion: v1\nkind: List\nitems:\n" + "".join(item.format(n=n) for n in range(3))
    alone = load_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c0\ndata: {a: '1', b: [x, y]}\n",
                      "one.yaml").resources[0]
    resources = load_text(text, "list.yaml").resources
    assert [r.name for r in resources] == ["c0", "c1", "c2"]
    for n, resource in enumerate(resources):
        assert list(resource.positions) == [(), *list(alone.positions)[:-1]]  # an item is recorded before its fields
        assert resource.positions[()].line == 4 + 5 * n
        for path, pos in alone.positions.items():
            if path:
                assert resource.positions[path].line == pos.line + 3 + 5 * n
                assert resource.positions[path].column == pos.column + 2


def test_loaded_objects_are_left_out_of_the_cycle_collectors_walks(tmp_path):
    """After loading, what was loaded is frozen (the first collection would otherwise walk all of it) and the
    collector is back on as it was."""
    import gc

    (tmp_path / "a.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\n")
    assert gc.isenabled()
    result = load_paths([str(tmp_path / "a.yaml")])
    loaded = result.resources[0].obj
    assert gc.isenabled()
    assert not any(o is loaded for o in gc.get_objects())  # the permanent generation is not listed
    gc.unfreeze()
    assert any(o is loaded for o in gc.get_objects())


# -- many files on several cores: the same result as one process ---------------------------------------------------

def _mixed_tree(root: Path) -> None:
    """Files of every kind of outcome, so that each share of a forked load has some."""
    for n in range(12):
        docs = [f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{n}-{d}, namespace: ns{n}}}\n"
                f"data: {{k{d}: v, deep: {{x{n}: [1, {{y: 2}}]}}}}\n" for d in range(3)]
        docs.append("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n"
                    f"  metadata: {{name: s{n}}}\n  data: {{only{n}: eA==}}\n- not: an object\n")
        docs.append("key: [unclosed\n" if n % 3 == 0 else "just: data\n")
        (root / f"f{n:02}.yaml").write_text("---\n".join(docs))
    (root / "binary.yaml").write_bytes(b"\xff\xfe")


def _as_data(result):
    return ([(r.obj, r.path, r.doc_index, r.origin, list(r.positions.items()),
              r.positions.get(("data",)), ("metadata", "name") in r.positions) for r in result.resources],
            result.scanned, result.skipped, result.errors)


def _forked_and_serial(monkeypatch, paths):
    monkeypatch.setattr(files, "FORK_MIN_BYTES", 0)
    monkeypatch.setattr(files.forked, "processes_available", lambda: 3)
    forked = load_paths(paths)
    monkeypatch.setattr(files, "FORK_MIN_BYTES", 1 << 60)
    return forked, load_paths(paths)


def test_files_loaded_in_forked_children_are_what_one_process_loads(tmp_path, monkeypatch):
    _mixed_tree(tmp_path)
    shares = []
    original = files._from_child
    monkeypatch.setattr(files, "_from_child", lambda done: shares.append(done) or original(done))
    forked, serial = _forked_and_serial(monkeypatch, [str(tmp_path), str(tmp_path / "f03.yaml")])
    assert len(shares) == 2  # three processes: two children handed their shares back
    assert _as_data(forked) == _as_data(serial)
    assert len(forked.resources) == 13 * 4 and forked.errors and forked.skipped
    item = forked.resources[-1]  # a List item of a child's file: its positions re-rooted, in the child's numbers
    assert item.kind == "Secret" and item.positions[("data", "only3")].line == 22
    # positions numbered in a child answer paths this process numbered since, and the other way round
    assert item.positions.below(("data",))["only3"].get(()) == item.positions[("data", "only3")]


def test_a_child_that_fails_leaves_its_share_to_this_process(tmp_path, monkeypatch):
    _mixed_tree(tmp_path)
    original = files._load_in_child

    def failing_in_children(share, **kwargs):
        yield from list(original(share, **kwargs))[:1]
        raise RuntimeError("child failure")

    monkeypatch.setattr(files, "_load_in_child", failing_in_children)
    forked, serial = _forked_and_serial(monkeypatch, [str(tmp_path)])
    assert _as_data(forked) == _as_data(serial) and len(forked.resources) == 12 * 4


def test_a_run_budget_spent_across_shares_loads_everything_again_in_one_process(tmp_path, monkeypatch):
    monkeypatch.setattr(yaml_source, "MAX_NODES_PER_RUN", 2_000)
    (tmp_path / "a-ok.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n")
    for name in ("b.yaml", "c.yaml", "d.yaml"):
        (tmp_path / name).write_text(_chain_document())
    forked, serial = _forked_and_serial(monkeypatch, [str(tmp_path)])
    assert _as_data(forked) == _as_data(serial)
    assert [Path(e.path).name for e in forked.errors] == ["c.yaml", "d.yaml"]


def test_nothing_forks_while_another_thread_runs():
    import threading

    from scanner.load import forked

    assert forked.can_fork()
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        assert not forked.can_fork()
        assert forked.map_forked(lambda share: share, lambda share: [share], [1, 2]) is None
    finally:
        release.set()
        thread.join()


def test_a_child_whose_results_do_not_read_back_leaves_its_share_to_this_process(tmp_path, monkeypatch):
    _mixed_tree(tmp_path)
    original = files._load_in_child

    def truncated(share, **kwargs):
        yield from list(original(share, **kwargs))[:-1]  # ends well, but without its last item

    monkeypatch.setattr(files, "_load_in_child", truncated)
    forked, serial = _forked_and_serial(monkeypatch, [str(tmp_path)])
    assert _as_data(forked) == _as_data(serial) and len(forked.resources) == 12 * 4


def test_the_nodes_this_process_parsed_count_toward_the_run_budget_too(tmp_path, monkeypatch):
    """The files together go over the run's budget, the largest in the first share (parsed here): the share that
    used up its part makes the files load again in one process, as one budget has it."""
    monkeypatch.setattr(yaml_source, "MAX_NODES_PER_RUN", 2_000)

    def config_map(name: str, values: int) -> str:
        return (f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\n"
                f"data: {{k: '{'x' * 4000}'}}\nitems: [{', '.join(['1'] * values)}]\n")

    (tmp_path / "a.yaml").write_text(config_map("a", 1_400) * 1)
    for name in ("b", "c", "d"):
        (tmp_path / f"{name}.yaml").write_text(config_map(name, 250))
    forked, serial = _forked_and_serial(monkeypatch, [str(tmp_path)])
    assert _as_data(forked) == _as_data(serial)
    assert [Path(e.path).name for e in serial.errors] == ["d.yaml"]


def test_each_process_parses_against_its_part_of_the_run_budget(tmp_path, monkeypatch):
    """Shares (and stdin's text) together never hold more nodes than one run allows: a hostile tree cannot make
    the forked load build several runs' worth before the budget is checked."""
    _mixed_tree(tmp_path)
    parts = []

    class Recording(yaml_source.NodeBudget):
        def __init__(self, run_share: int = 1) -> None:
            super().__init__(run_share)
            parts.append((os.getpid(), self.run_left))

    monkeypatch.setattr(files, "NodeBudget", Recording)
    stdin = "apiVersion: v1\nkind: Namespace\nmetadata: {name: in}\n"
    monkeypatch.setattr(files.forked, "processes_available", lambda: 3)
    monkeypatch.setattr(files, "FORK_MIN_BYTES", 0)
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    forked = load_paths([str(tmp_path), "-"])
    here = [left for pid, left in parts if pid == os.getpid()]
    # 3 shares + stdin: the first share's part and stdin's, then the run's own budget (left unused)
    assert here == [yaml_source.MAX_NODES_PER_RUN // 4] * 2 + [yaml_source.MAX_NODES_PER_RUN]
    monkeypatch.setattr(files, "FORK_MIN_BYTES", 1 << 60)
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    assert _as_data(forked) == _as_data(load_paths([str(tmp_path), "-"])) and forked.resources[-1].name == "in"
