"""The policy catalogue: its library digest (`library_digest`, the sha256 every report names its policies by) and
the shipped library's metadata remembered in the user cache."""

from __future__ import annotations

import datetime
import hashlib
import shutil
from pathlib import Path

import pytest
import yaml

from scanner.engine.catalogue import METADATA, default_policy_dir, library_digest, load_catalogue, read_metadata


def _reference_digest(policy_dir: Path) -> str:
    """The digest as first defined: pathlib's recursive glob, files only, `__pycache__` left out, sorted paths."""
    digest = hashlib.sha256()
    for path in sorted(p for p in policy_dir.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(policy_dir).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def test_the_digest_of_the_shipped_library_is_unchanged() -> None:
    assert library_digest(default_policy_dir()) == _reference_digest(default_policy_dir())


def test_the_digest_orders_paths_by_component_and_follows_only_linked_files(tmp_path: Path) -> None:
    library = tmp_path / "policies"
    for name in ("a/b.rego", "a-b/c.rego", "a.b", "a/b-c/d", "a/b/c", ".hidden", "z/__pycache__/x.pyc",
                 "__pycache__", "lib/x_test.rego"):
        (library / name).parent.mkdir(parents=True, exist_ok=True)
        (library / name).write_text(name)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "planted.rego").write_text("x")
    (library / "linked-dir").symlink_to(outside)
    (library / "linked-file").symlink_to(outside / "planted.rego")
    (library / "dangling").symlink_to(tmp_path / "missing")

    digest = library_digest(library)
    assert digest == _reference_digest(library)
    (library / "a" / "b" / "c").write_text("changed")
    assert library_digest(library) not in (digest, _reference_digest(tmp_path / "outside"))
    assert library_digest(library) == _reference_digest(library)


# -- the shipped library's metadata, remembered in the user cache --------------------------------------------------

@pytest.fixture
def user_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "kguard" / "derived" / METADATA


def test_the_remembered_metadata_of_the_shipped_library_is_what_yaml_reads(user_cache_dir: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = load_catalogue(default_policy_dir())
    assert len(list(user_cache_dir.iterdir())) == 1
    monkeypatch.setattr(yaml, "load", lambda *_, **__: pytest.fail("parsed again"))
    assert load_catalogue(default_policy_dir()) == parsed


def test_another_library_is_never_remembered(user_cache_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "policies"
    shutil.copytree(default_policy_dir(), copy)
    assert [p.rule for p in load_catalogue(copy)] == [p.rule for p in load_catalogue(default_policy_dir())]
    assert len(list(user_cache_dir.iterdir())) == 1  # the shipped library's only


def test_remembered_metadata_is_for_the_exact_texts(user_cache_dir: Path, tmp_path: Path) -> None:
    policy = tmp_path / "a" / "b"
    policy.mkdir(parents=True)
    (policy / "metadata.yaml").write_text("id: x\nseverity: high\n")
    assert read_metadata([policy], remember=True) == [{"id": "x", "severity": "high"}]
    (policy / "metadata.yaml").write_text("id: x\nseverity: low\n")
    assert read_metadata([policy], remember=True) == [{"id": "x", "severity": "low"}]
    (policy / "metadata.yaml").write_text("id: x\nreviewed: 2026-01-01\n")  # a date: JSON cannot hold it
    assert read_metadata([policy], remember=True) == [{"id": "x", "reviewed": datetime.date(2026, 1, 1)}]
    assert read_metadata([policy], remember=True)[0]["reviewed"] == datetime.date(2026, 1, 1)
    assert len(list(user_cache_dir.iterdir())) == 2
