"""The git side of `kguard diff`: resolve revisions, check them out in temporary worktrees, list changed files."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scanner.errors import UsageError


def _git(root: Path, *args: str) -> str:
    git = shutil.which("git")
    if git is None:
        raise UsageError("kguard diff needs git on PATH")
    done = subprocess.run([git, "-C", str(root), *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        message = (done.stderr.strip().splitlines() or [f"git {args[0]} failed"])[-1]
        raise UsageError(f"git {' '.join(args[:2])}: {message}")
    return done.stdout


def toplevel(start: Path) -> Path:
    """The root of the git work tree containing ``start``."""
    try:
        return Path(_git(start, "rev-parse", "--show-toplevel").strip()).resolve()
    except UsageError:
        raise UsageError(f"{start}: not inside a git repository (kguard diff compares git revisions)") from None


def resolve(root: Path, revision: str) -> str:
    """The commit ``revision`` names (a usage error naming it when it names none)."""
    if revision.startswith("-"):
        raise UsageError(f"{revision!r} is not a git revision")
    try:
        return _git(root, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}").strip()
    except UsageError:
        raise UsageError(f"{revision!r} is not a commit of {root}") from None


def changed_files(root: Path, base: str, head: str | None) -> set[str]:
    """Repository-relative paths that differ between ``base`` and ``head`` (None: the working tree, untracked
    files included)."""
    args = ["diff", "--name-only", "--no-renames", "-z", base] + ([head] if head else [])
    names = set(filter(None, _git(root, *args).split("\0")))
    if head is None:
        names |= set(filter(None, _git(root, "ls-files", "--others", "--exclude-standard", "-z").split("\0")))
    return names


def ignored(root: Path, paths: list[str]) -> set[str]:
    """Those of ``paths`` (relative to ``root``) that git ignores (.gitignore: build output, reports)."""
    if not paths:
        return set()
    git = shutil.which("git") or "git"
    done = subprocess.run([git, "-C", str(root), "check-ignore", "-z", "--stdin"], input="\0".join(paths) + "\0",
                          capture_output=True, text=True, check=False)
    return set(filter(None, done.stdout.split("\0"))) if done.returncode in (0, 1) else set()


TMPDIR_ENV = "KGUARD_DIFF_TMPDIR"
_SHM = Path("/dev/shm")


def scratch_parent() -> str | None:
    """Where worktrees go: $KGUARD_DIFF_TMPDIR, else /dev/shm when writable (memory-backed: checking out a
    thousand files there takes a tenth of the time on a busy disk), else the system's temporary directory."""
    given = os.environ.get(TMPDIR_ENV)
    if given:
        return given
    return str(_SHM) if _SHM.is_dir() and os.access(_SHM, os.W_OK | os.X_OK) else None


@contextmanager
def worktree(root: Path, commit: str) -> Iterator[Path]:
    """A temporary detached worktree of ``commit``, removed afterwards (also on error)."""
    parent = Path(tempfile.mkdtemp(prefix="kguard-diff-", dir=scratch_parent()))
    tree = parent / "tree"
    try:
        _git(root, "worktree", "add", "--detach", "--quiet", str(tree), commit)
        yield tree
    finally:
        subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force", str(tree)],
                       capture_output=True, check=False)
        shutil.rmtree(parent, ignore_errors=True)
        subprocess.run(["git", "-C", str(root), "worktree", "prune"], capture_output=True, check=False)
