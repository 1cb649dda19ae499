"""The user cache (`scanner.user_cache`): content-addressed entries in the user's cache directory that a broken,
foreign or unwritable directory turns into misses, never into errors or into values kguard did not store."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scanner import user_cache
from scanner.engine.catalogue import METADATA, METADATA_FORMAT, default_policy_dir

NAMESPACE = "test-entries"
REPO = Path(__file__).resolve().parents[1]


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


def test_a_namespace_with_keep_holds_the_most_recent_entries_only(cache: Path) -> None:
    for i in range(6):
        entry = user_cache.key(str(i))
        user_cache.put(NAMESPACE, entry, b"value %d" % i, keep=4)
        os.utime(cache / NAMESPACE / entry, ns=(10**18 + i, 10**18 + i))  # a distinct age even on a coarse clock
    kept = sorted(p.name for p in (cache / NAMESPACE).iterdir())
    assert kept == sorted(user_cache.key(str(i)) for i in range(2, 6))
    assert user_cache.get(NAMESPACE, user_cache.key("5")) == b"value 5"
    user_cache.put(NAMESPACE, user_cache.key("old"), b"newest", keep=1)  # the entry just written always stays
    assert [p.name for p in (cache / NAMESPACE).iterdir()] == [user_cache.key("old")]


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


def test_a_cache_inside_the_current_directory_or_a_git_work_tree_is_not_used(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    checkout = tmp_path / "checkout"
    (checkout / "sub").mkdir(parents=True)
    monkeypatch.setenv("XDG_CACHE_HOME", str(checkout / "sub" / ".cache"))
    monkeypatch.chdir(checkout)  # what is being scanned
    user_cache.put(NAMESPACE, user_cache.key("text"), b"value")
    assert not (checkout / "sub" / ".cache").exists()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    (checkout / ".git").mkdir()  # a work tree, wherever kguard runs from
    user_cache.put(NAMESPACE, user_cache.key("text"), b"value")
    assert not (checkout / "sub" / ".cache").exists()
    (checkout / ".git").rmdir()
    monkeypatch.setattr(user_cache, "_outside", {})  # checked once per process: a new one
    user_cache.put(NAMESPACE, user_cache.key("text"), b"value")
    assert user_cache.get(NAMESPACE, user_cache.key("text")) == b"value"


def _plant_lenient_metadata(cache_home: Path) -> None:
    """What a pull request would commit under `.cache/` if HOME were its checkout: the shipped library's metadata,
    as kguard would remember it, with every severity lowered to info."""
    directories = [m.parent for m in sorted(default_policy_dir().glob("*/*/metadata.yaml"))]
    texts = [(d / "metadata.yaml").read_text() for d in directories]
    metas = [{**yaml.safe_load(text), "severity": "info"} for text in texts]
    value = json.dumps(metas).encode()
    entry = user_cache.key(METADATA_FORMAT, yaml.__version__, *texts)
    directory = cache_home / "kguard" / "derived" / METADATA
    directory.mkdir(mode=0o700, parents=True)
    (cache_home / "kguard" / "derived").chmod(0o700)
    (directory / entry).write_bytes(hashlib.sha256(value).hexdigest().encode() + b"\n" + value)


def test_entries_planted_in_a_checkout_cannot_switch_the_gate_off(tmp_path: Path) -> None:
    """HOME pointing into the checkout (some CI containers): the pull request's own `.cache/` is never read."""
    pod = ("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: default}\nspec:\n  containers:\n"
           "  - name: c\n    image: registry.example.com/c:1\n    securityContext: {privileged: true}\n")

    def scan(cwd: Path, file: Path, home: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "scanner", "scan", "--fail-on", "high", "-q", str(file)],
                              cwd=cwd, capture_output=True, text=True, timeout=300,
                              env={"PATH": os.environ["PATH"], "HOME": str(home), "PYTHONPATH": str(REPO)})

    own = tmp_path / "own"  # the premise: such an entry in the user's own cache is used (it is trusted there)
    own.mkdir()
    (own / "pod.yaml").write_text(pod)
    _plant_lenient_metadata(tmp_path / "home" / ".cache")
    assert scan(own, own / "pod.yaml", tmp_path / "home").returncode == 0

    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "pod.yaml").write_text(pod)
    _plant_lenient_metadata(checkout / ".cache")
    done = scan(checkout, checkout / "pod.yaml", checkout)  # no .git: the current directory is the checkout
    assert done.returncode == 1 and "pss-privileged" in done.stdout, done.stdout + done.stderr
    (checkout / ".git").mkdir()
    (tmp_path / "elsewhere").mkdir()
    done = scan(tmp_path / "elsewhere", checkout / "pod.yaml", checkout)  # run from elsewhere: a work tree
    assert done.returncode == 1 and "pss-privileged" in done.stdout, done.stdout + done.stderr
