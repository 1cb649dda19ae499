"""The user cache (`scanner.user_cache`): content-addressed entries in the user's cache directory that a broken,
foreign or unwritable directory turns into misses, never into errors or into values kguard did not store."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner import user_cache

NAMESPACE = "test-entries"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "kguard" / "derived"


def test_keys_name_the_exact_sequence_of_parts() -> None:
    assert user_cache.key("ab", "c") != user_cache.key("a", "bc")
    assert user_cache.key("a", "b") != user_cache.key("ab")
    assert user_cache.key("a", b"b") == user_cache.key(b"a", "b")
    assert user_cache.key("x") != user_cache.key("y")
    assert len(user_cache.key()) == 64


def test_a_stored_value_comes_back_in_a_private_directory(cache: Path) -> None:
    entry = user_cache.key("text")
    assert user_cache.get(NAMESPACE, entry) is None
    user_cache.put(NAMESPACE, entry, b"value\nwith lines\n")
    assert user_cache.get(NAMESPACE, entry) == b"value\nwith lines\n"
    assert user_cache.get(NAMESPACE, user_cache.key("other text")) is None
    assert (cache / NAMESPACE).stat().st_mode & 0o777 == 0o700
    assert cache.stat().st_mode & 0o777 == 0o700
    assert [p.name for p in (cache / NAMESPACE).iterdir()] == [entry]  # no temporary file left behind


def test_a_corrupted_or_truncated_entry_is_a_miss(cache: Path) -> None:
    entry = user_cache.key("text")
    user_cache.put(NAMESPACE, entry, b"the value")
    stored = cache / NAMESPACE / entry
    text = stored.read_bytes()
    stored.write_bytes(text.replace(b"the value", b"the valuE"))
    assert user_cache.get(NAMESPACE, entry) is None
    stored.write_bytes(text[:-3])
    assert user_cache.get(NAMESPACE, entry) is None
    stored.write_bytes(b"")
    assert user_cache.get(NAMESPACE, entry) is None


def test_a_directory_others_may_write_is_not_used(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = user_cache.key("text")
    user_cache.put(NAMESPACE, entry, b"planted?")

    def new_process() -> None:  # directories are checked once per process
        monkeypatch.setattr(user_cache, "_usable", {})

    (cache / NAMESPACE).chmod(0o777)
    new_process()
    assert user_cache.get(NAMESPACE, entry) is None
    user_cache.put(NAMESPACE, user_cache.key("more"), b"x")  # nothing written, nothing raised
    assert not (cache / NAMESPACE / user_cache.key("more")).exists()
    (cache / NAMESPACE).chmod(0o700)
    cache.chmod(0o770)  # the root too
    new_process()
    assert user_cache.get(NAMESPACE, entry) is None
    cache.chmod(0o700)
    new_process()
    assert user_cache.get(NAMESPACE, entry) == b"planted?"


def test_a_symbolic_link_as_the_directory_is_not_used(cache: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    cache.mkdir(mode=0o700, parents=True)
    (cache / NAMESPACE).symlink_to(elsewhere)
    user_cache.put(NAMESPACE, user_cache.key("text"), b"value")
    assert user_cache.get(NAMESPACE, user_cache.key("text")) is None
    assert list(elsewhere.iterdir()) == []


def test_a_cache_root_that_is_a_file_costs_only_the_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "file").write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    user_cache.put(NAMESPACE, user_cache.key("text"), b"value")
    assert user_cache.get(NAMESPACE, user_cache.key("text")) is None


def test_a_relative_xdg_cache_home_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_cache.cache_root() == tmp_path / "home" / ".cache" / "kguard" / "derived"
