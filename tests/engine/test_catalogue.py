"""The policy catalogue's library digest (`library_digest`): the sha256 every report names its policies by."""

from __future__ import annotations

import hashlib
from pathlib import Path

from scanner.engine.catalogue import default_policy_dir, library_digest


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
