"""A small content-addressed cache of work kguard repeats on every run (the pre-commit hook runs many times a day).

Entries live in the user's cache directory (`$XDG_CACHE_HOME/kguard/derived`, else `~/.cache/kguard/derived`), one
file per entry, named by the sha256 of everything the stored value depends on: the exact input text and the
version of the code that derived it (`key`). Only values kguard derived itself are stored, so a scanned repository
can neither name nor place an entry: a cache that lies inside the current directory or inside a git work tree
(`HOME` pointing into a checkout, whose files a pull request writes) is not used, nor a directory that anyone but
the user could write. Each entry carries the sha256 of its value, so a truncated or corrupted file is a miss. A
missing, unreadable or unwritable cache only costs the time to derive the value again: nothing here raises.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from pathlib import Path

_SUBDIR = "derived"
_usable: dict[Path, bool] = {}  # directories checked in this process (and whether they may be used)
_outside: dict[tuple[Path, Path], bool] = {}  # (cache root, current directory) -> `_outside_checkouts`


def key(*parts: str | bytes) -> str:
    """The sha256 (hex) of ``parts``, each length-prefixed so that no two different sequences collide."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
        digest.update(b"%d:" % len(data))
        digest.update(data)
    return digest.hexdigest()


def cache_root() -> Path | None:
    """`$XDG_CACHE_HOME/kguard/derived` (an absolute XDG_CACHE_HOME only, as the spec says), else
    `~/.cache/kguard/derived`; None without a home directory."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:  # no home directory
            return None
    return Path(base) / "kguard" / _SUBDIR


def _directory(namespace: str, create: bool) -> Path | None:
    """The directory of ``namespace``, when it exists (or was just made) and only this user can write it."""
    root = cache_root()
    if root is None or not _outside_checkouts(root):
        return None
    path = root / namespace
    if not _usable.get(path):
        try:
            if create:  # private from the start: directories made by mkdir's parents=True follow the umask
                root.mkdir(mode=0o700, parents=True, exist_ok=True)
                path.mkdir(mode=0o700, exist_ok=True)
            _usable[path] = _private(path, root)
        except OSError:
            return None
    return path if _usable[path] else None


def _outside_checkouts(root: Path) -> bool:
    """Whether ``root`` lies neither inside the current directory (what is being scanned, usually) nor inside a git
    work tree: files there may come from a pull request, planted under the names kguard would look up."""
    try:
        here = Path.cwd()
    except OSError:  # the current directory was removed
        return False
    if (root, here) not in _outside:
        try:
            where, here_resolved = root.resolve(), here.resolve()
            _outside[(root, here)] = here_resolved not in (where, *where.parents) and not any(
                (directory / ".git").exists() for directory in (where, *where.parents))
        except (OSError, RuntimeError):
            _outside[(root, here)] = False
    return _outside[(root, here)]


def _private(path: Path, root: Path) -> bool:
    """Whether ``path`` and its parents up to ``root`` are directories of this user that nobody else may write
    (another local user could otherwise plant entries)."""
    for directory in (path, *path.parents):
        info = os.lstat(directory)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
            return False
        if directory == root:
            return True
    return False


def get(namespace: str, entry: str) -> bytes | None:
    """The value stored under ``entry`` (a `key`), or None."""
    directory = _directory(namespace, create=False)
    if directory is None:
        return None
    try:
        with open(directory / entry, "rb") as file:
            data = file.read()
    except (OSError, ValueError):
        return None
    checksum, _, value = data.partition(b"\n")
    return value if checksum == hashlib.sha256(value).hexdigest().encode() else None


def put(namespace: str, entry: str, value: bytes, *, keep: int | None = None) -> None:
    """Store ``value`` under ``entry`` (written to a temporary file, then renamed into place). ``keep``: the most
    entries ``namespace`` holds; the least recently written beyond that are removed (for values whose keys vary
    with the input, such as compiled programs, so that the directory cannot grow without bound)."""
    import tempfile  # only when writing: the usual run reads

    directory = _directory(namespace, create=True)
    if directory is None:
        return
    try:
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(hashlib.sha256(value).hexdigest().encode() + b"\n" + value)
            os.replace(temporary, directory / entry)
        except BaseException:
            os.unlink(temporary)
            raise
        if keep is not None:
            _trim(directory, entry, keep)
    except OSError:
        return


def _trim(directory: Path, written: str, keep: int) -> None:
    """Remove the oldest entries of ``directory`` (by modification time, then name) beyond ``keep``, never
    ``written``."""
    entries = []
    for item in os.scandir(directory):
        if not item.name.startswith(".") and item.is_file(follow_symlinks=False):
            entries.append((item.stat(follow_symlinks=False).st_mtime_ns, item.name))
    entries.sort(reverse=True)
    for _, name in entries[keep:]:
        if name != written:
            with contextlib.suppress(OSError):  # removed meanwhile by another run
                os.unlink(directory / name)
