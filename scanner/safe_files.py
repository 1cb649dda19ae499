"""Writing report files without following links planted in the checkout.

In CI the pull-request author controls the repository, `reports/` included: `reports/kguard.txt` can be a symlink
to someone's `authorized_keys`. So every report is written to a new temporary file in the target directory and
renamed over the target (`os.replace` swaps the directory entry; it never writes through a link). Directories are
opened one component at a time with ``O_NOFOLLOW | O_DIRECTORY`` relative to the previous one, so no symlinked
directory is ever entered below the working directory; a symlinked target file is refused outright. A set of files
(`--report-dir`) is all-or-nothing: every temporary file is written before the first rename.

Which directories are trusted: the working directory and its ancestors (the user is there), and an absolute path
outside the working tree that the user typed (opened as given). Everything below those is checked.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

from scanner.errors import UsageError

# A function that hands a file's text to a write function piece by piece (a large report, never one string).
Producer = Callable[[Callable[[str], None]], None]
Text = str | Producer  # what a file is written from

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_DIR_FLAGS = os.O_RDONLY | _DIRECTORY | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
WRITE_CHUNK = 1 << 20  # characters encoded and written at a time
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
# POSIX (Linux, macOS): directory fds, openat/mkdirat/renameat. Elsewhere reports go to stdout only.
SUPPORTED = bool(_NOFOLLOW and _DIRECTORY) and {os.open, os.mkdir, os.rename, os.stat} <= os.supports_dir_fd


def write_file(path: Path, text: Text) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically, creating missing directories.

    A UsageError names the path and the reason when it cannot be done safely.
    """
    return write_files(path.parent, {path.name: text}, shown=path)[0]


def write_files(directory: Path, texts: dict[str, Text], *, shown: Path | None = None) -> list[Path]:
    """Write every ``name -> text`` into ``directory`` (created if needed): all of them, or none on failure.

    ``shown`` is the path errors name (default: ``directory``).
    """
    dir_fd = open_directory(directory, shown or directory)
    temps: dict[str, str] = {}
    try:
        for name in texts:
            _check_target(dir_fd, directory / name)
        for name, text in texts.items():
            temps[name] = _write_temp(dir_fd, directory / name, text)
        for name, temp in list(temps.items()):
            try:
                os.replace(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except OSError as exc:
                raise UsageError(f"{directory / name}: cannot write report: {_reason(exc)}") from None
            del temps[name]
    finally:
        for temp in temps.values():
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=dir_fd)
        os.close(dir_fd)
    return [directory / name for name in texts]


def remove_file(path: Path) -> None:
    """Delete ``path`` (the entry itself, never what a link points to), its directory reached as `write_file`
    reaches it: a generated file that is no longer generated."""
    dir_fd = open_directory(path.parent, path)
    try:
        os.unlink(path.name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise UsageError(f"{path}: cannot remove: {_reason(exc)}") from None
    finally:
        os.close(dir_fd)


def open_directory(directory: Path, shown: Path | None = None) -> int:
    """An fd of ``directory``, created as needed, reached without following a symlink below the trusted start.

    Errors name ``shown`` (default: ``directory``) and the component at fault.
    """
    shown = shown or directory
    if not SUPPORTED:
        raise UsageError(f"{shown}: cannot write report: this platform cannot open directories without following "
                         "symbolic links (print to stdout instead)")
    anchor, parts = _split_trusted(directory)
    try:
        fd = os.open(anchor, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise UsageError(f"{shown}: cannot write report: {anchor}: {_reason(exc)}") from None
    walked = anchor
    for part in parts:
        walked = os.path.join(walked, part)
        try:
            try:
                next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                with contextlib.suppress(FileExistsError):  # created meanwhile, or a dangling symlink:
                    os.mkdir(part, 0o777, dir_fd=fd)  # the O_NOFOLLOW open below decides
                next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
        except OSError as exc:
            problem = _dir_problem(fd, part, _display(walked), exc)
            os.close(fd)
            raise UsageError(f"{shown}: cannot write report: {problem}") from None
        os.close(fd)
        fd = next_fd
    return fd


def _split_trusted(directory: Path) -> tuple[str, list[str]]:
    """(trusted directory to start from, components below it to walk without following links)."""
    cwd = os.getcwd()
    text = os.path.normpath(os.path.join(cwd, directory))
    for root in _cwd_spellings(cwd):
        if text == root or text.startswith(root.rstrip(os.sep) + os.sep):
            rest = os.path.relpath(text, root)
            return cwd, [] if rest == "." else rest.split(os.sep)
    if not directory.is_absolute():  # leaves the working directory with `..`: anchor at the common ancestor
        common = os.path.commonpath([cwd, text])
        rest = os.path.relpath(text, common)
        return common, [] if rest == "." else rest.split(os.sep)
    # An absolute path outside the working tree, typed by the user: its existing part is opened as given.
    existing = text
    missing: list[str] = []
    while not os.path.isdir(existing) and os.path.dirname(existing) != existing:
        existing, tail = os.path.split(existing)
        missing.insert(0, tail)
    return existing, missing


def _cwd_spellings(cwd: str) -> list[str]:
    """The working directory as getcwd() has it and as $PWD spells it (when that is the same directory)."""
    spellings = [cwd]
    pwd = os.environ.get("PWD")
    if pwd and os.path.isabs(pwd) and pwd != cwd:
        with contextlib.suppress(OSError):
            if os.path.samefile(pwd, cwd):
                spellings.append(os.path.normpath(pwd))
    return spellings


def _check_target(dir_fd: int, target: Path) -> None:
    """Refuse a target that is a symlink, a directory or anything but a regular file."""
    try:
        info = os.lstat(target.name, dir_fd=dir_fd)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UsageError(f"{target}: cannot write report: {_reason(exc)}") from None
    problem = None
    if stat.S_ISLNK(info.st_mode):
        problem = "it is a symbolic link (refusing to write through it)"
    elif stat.S_ISDIR(info.st_mode):
        problem = "it is a directory"
    elif not stat.S_ISREG(info.st_mode):
        problem = "it is not a regular file"
    if problem:
        raise UsageError(f"{target}: cannot write report: {problem}")


def _write_temp(dir_fd: int, target: Path, text: Text) -> str:
    """A new temporary file next to ``target`` (in ``dir_fd``) holding ``text``; returns its name."""
    for _ in range(100):
        temp = f".{target.name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(temp, _TEMP_FLAGS, 0o666, dir_fd=dir_fd)
        except FileExistsError:
            continue
        except OSError as exc:
            raise UsageError(f"{target}: cannot write report: {_reason(exc)}") from None
        try:
            with os.fdopen(fd, "wb") as handle:
                def put(piece: str) -> None:
                    for start in range(0, len(piece), WRITE_CHUNK):  # never a second copy of a large report
                        handle.write(piece[start:start + WRITE_CHUNK].encode("utf-8"))

                if isinstance(text, str):
                    put(text)
                else:
                    text(put)
        except OSError as exc:
            os.unlink(temp, dir_fd=dir_fd)
            raise UsageError(f"{target}: cannot write report: {_reason(exc)}") from None
        except BaseException:  # text that cannot be encoded, an interrupt: no temporary file left behind
            os.unlink(temp, dir_fd=dir_fd)
            raise
        return temp
    raise UsageError(f"{target}: cannot write report: no free temporary file name")


def _dir_problem(parent_fd: int, part: str, shown: str, exc: OSError) -> str:
    """Why ``part`` (inside ``parent_fd``, shown as ``shown``) cannot be used as a directory, in words."""
    try:
        info = os.lstat(part, dir_fd=parent_fd)
    except OSError:
        return f"{shown}: {_reason(exc)}"
    if stat.S_ISLNK(info.st_mode):
        return f"{shown} is a symbolic link (refusing to follow it)"
    if not stat.S_ISDIR(info.st_mode):
        return f"{shown} is a file, not a directory"
    return f"{shown}: {_reason(exc)}"


def _display(path: str) -> str:
    """``path`` relative to the working directory when it lies below it, else as it is."""
    cwd = os.getcwd()
    return os.path.relpath(path, cwd) if path.startswith(cwd.rstrip(os.sep) + os.sep) else path


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "a symbolic link is in the way (refusing to follow it)"
    return exc.strerror or str(exc)
