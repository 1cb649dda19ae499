"""Report files: temporary file + rename, no link followed below the working directory, all or none."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scanner.errors import UsageError
from scanner.safe_files import remove_file, write_file, write_files


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("PWD", raising=False)
    return work


def test_writes_nested_new_file_exactly_and_leaves_no_temporary_file(cwd: Path) -> None:
    assert write_file(Path("a/b/r.json"), "{}\nü\n") == Path("a/b/r.json")
    assert (cwd / "a" / "b" / "r.json").read_bytes() == "{}\nü\n".encode()
    assert os.listdir(cwd / "a" / "b") == ["r.json"]


def test_a_text_longer_than_a_chunk_is_written_exactly(cwd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import scanner.safe_files

    monkeypatch.setattr(scanner.safe_files, "WRITE_CHUNK", 7)
    text = "".join(f"{i}:é€\U0001f600\n" for i in range(50))  # chunks end inside multi-byte characters' runs
    write_file(Path("r.txt"), text)
    assert (cwd / "r.txt").read_bytes() == text.encode()
    write_file(Path("e.txt"), "")
    assert (cwd / "e.txt").read_bytes() == b""


def test_a_producer_writes_its_pieces_in_order(cwd: Path) -> None:
    def produce(write):
        for piece in ("{", "", "\n  \"é\": 1", "\n}\n"):
            write(piece)

    write_files(cwd / "r", {"a.json": produce, "b.txt": "plain"})
    assert (cwd / "r" / "a.json").read_bytes() == '{\n  "é": 1\n}\n'.encode()
    assert sorted(os.listdir(cwd / "r")) == ["a.json", "b.txt"]


def test_a_producer_that_fails_midway_leaves_no_file(cwd: Path) -> None:
    (cwd / "r").mkdir()
    (cwd / "r" / "old.txt").write_text("old")

    def produce(write):
        write("half of it")
        raise ValueError("broken report")

    with pytest.raises(ValueError, match="broken report"):
        write_files(cwd / "r", {"a.txt": "first", "old.txt": produce})
    assert os.listdir(cwd / "r") == ["old.txt"]  # all or none: no temporary file, the old one untouched
    assert (cwd / "r" / "old.txt").read_text() == "old"


def test_text_that_cannot_be_encoded_leaves_no_file(cwd: Path) -> None:
    with pytest.raises(UnicodeEncodeError):
        write_file(Path("r.txt"), "a\ud800b")
    assert os.listdir(cwd) == []


def test_replaces_an_existing_file_by_rename(cwd: Path) -> None:
    target = cwd / "r.txt"
    target.write_text("old")
    inode = target.stat().st_ino
    write_file(Path("r.txt"), "new")
    assert target.read_text() == "new" and target.stat().st_ino != inode


def test_all_or_none_when_one_target_is_unusable(cwd: Path) -> None:
    (cwd / "out").mkdir()
    (cwd / "out" / "b.txt").mkdir()  # a directory where a report should go
    with pytest.raises(UsageError, match=r"out/b.txt: cannot write report: it is a directory"):
        write_files(Path("out"), {"a.txt": "a", "b.txt": "b", "c.txt": "c"})
    assert sorted(os.listdir(cwd / "out")) == ["b.txt"]


def test_fifo_target_is_refused(cwd: Path) -> None:
    os.mkfifo(cwd / "r.txt")
    with pytest.raises(UsageError, match="it is not a regular file"):
        write_file(Path("r.txt"), "x")


def test_parent_dot_dot_is_checked_from_the_common_ancestor(cwd: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "reports")
    (cwd / "sub").mkdir()
    os.chdir(cwd / "sub")
    with pytest.raises(UsageError, match="reports is a symbolic link"):
        write_file(Path("../../reports/r.txt"), "x")
    assert os.listdir(tmp_path / "elsewhere") == []
    write_file(Path("../plain/r.txt"), "y")
    assert (cwd / "plain" / "r.txt").read_text() == "y"


def test_absolute_path_below_the_working_directory_is_checked(cwd: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", cwd / "reports")
    with pytest.raises(UsageError, match="reports is a symbolic link"):
        write_file(cwd / "reports" / "r.txt", "x")
    assert os.listdir(tmp_path / "elsewhere") == []


def test_working_directory_spelled_through_a_link_is_still_checked(cwd: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """$PWD may name the working directory through a symlink; paths spelled that way are below it too."""
    os.symlink(cwd, tmp_path / "alias")
    monkeypatch.setenv("PWD", str(tmp_path / "alias"))
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", cwd / "reports")
    with pytest.raises(UsageError, match="reports is a symbolic link"):
        write_file(tmp_path / "alias" / "reports" / "r.txt", "x")
    assert os.listdir(tmp_path / "elsewhere") == []


def test_absolute_path_outside_the_working_tree_is_the_users_choice(cwd: Path, tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "mine")  # e.g. a symlinked home or /tmp on macOS
    write_file(tmp_path / "mine" / "new" / "r.txt", "x")
    assert (tmp_path / "real" / "new" / "r.txt").read_text() == "x"
    os.symlink(tmp_path / "real" / "new" / "r.txt", tmp_path / "real" / "link.txt")
    with pytest.raises(UsageError, match="symbolic link"):  # the report file itself is never a link
        write_file(tmp_path / "mine" / "link.txt", "y")
    assert (tmp_path / "real" / "new" / "r.txt").read_text() == "x"


def test_remove_file_removes_a_link_itself_and_never_enters_a_linked_directory(cwd: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "t.yaml").write_text("keep")
    os.symlink(tmp_path / "elsewhere" / "t.yaml", cwd / "link.yaml")
    remove_file(Path("link.yaml"))
    assert not os.path.lexists(cwd / "link.yaml") and (tmp_path / "elsewhere" / "t.yaml").read_text() == "keep"
    os.symlink(tmp_path / "elsewhere", cwd / "templates")
    with pytest.raises(UsageError, match="templates is a symbolic link"):
        remove_file(Path("templates/t.yaml"))
    assert (tmp_path / "elsewhere" / "t.yaml").read_text() == "keep"
    remove_file(Path("missing.yaml"))  # nothing to remove is no error
