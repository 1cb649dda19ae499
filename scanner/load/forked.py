"""Work done in forked children: a child hands back what it made, one pickle per item, read back one item at a
time.

`map_forked` shares one piece of work out (parsing many manifest files): this process does the first share while
one child per other share does its own. `start` runs independent work in one child while this process goes on
(the whole-graph analyses while the policies are evaluated). Children inherit everything they need by forking,
and a result costs far less to read back than to make. A child that fails in any way gives None (the caller does
that work itself); nothing forks when another thread runs (a child would inherit its locks held) or where
processes are not forked.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any, TypeVar

Share = TypeVar("Share")
Result = TypeVar("Result")


def processes_available() -> int:
    """The CPUs this process may run on (1 where that cannot be known)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def can_fork() -> bool:
    return hasattr(os, "fork") and threading.active_count() == 1


def map_forked(here: Callable[[Share], Result], child: Callable[[Share], Iterable[Any]], shares: Sequence[Share]
               ) -> tuple[Result, list[Iterator[Any] | None]] | None:
    """``here(shares[0])``, and for each other share the items ``child(share)`` made in a forked child meanwhile
    (None for a child that failed); None when this process cannot fork."""
    if not can_fork():
        return None
    children = [_start(child, share) for share in shares[1:]]
    try:
        first = here(shares[0])
    except BaseException:
        for pid, out in children:
            _discard(pid, out)
        raise
    return first, [_collect(pid, out) for pid, out in children]


class Started:
    """Work running in a forked child (`start`): `result` or `discard` it, once."""

    __slots__ = ("_out", "_pid")

    def __init__(self, pid: int, out: IO[bytes]) -> None:
        self._pid, self._out = pid, out

    def result(self) -> Iterator[Any] | None:
        """Wait for the child: the items the work made, or None when the child failed."""
        return _collect(self._pid, self._out)

    def discard(self) -> None:
        """End the child, whatever it was doing, and forget its work."""
        _discard(self._pid, self._out)


def start(work: Callable[[], Iterable[Any]]) -> Started | None:
    """``work`` started in a forked child while this process goes on; None when this process cannot fork."""
    if not can_fork():
        return None
    return Started(*_start(lambda _: work(), None))


def _start(child: Callable[[Share], Iterable[Any]], share: Share) -> tuple[int, IO[bytes]]:
    import pickle
    import tempfile

    out = tempfile.TemporaryFile(prefix="kguard-forked-")  # noqa: SIM115 (closed by _items or _discard)
    pid = os.fork()
    if pid == 0:  # the child: never returns, never runs the parent's exit handlers or flushes its buffers
        status = 1
        try:
            for item in child(share):
                pickle.dump(item, out, protocol=pickle.HIGHEST_PROTOCOL)
            out.flush()
            status = 0
        except BaseException:
            pass  # the parent does this share itself
        finally:
            os._exit(status)
    return pid, out


def _collect(pid: int, out: IO[bytes]) -> Iterator[Any] | None:
    """The child's items once it has ended well, else None."""
    try:
        _, status = os.waitpid(pid, 0)
        ended_well = os.waitstatus_to_exitcode(status) == 0
    except OSError:
        ended_well = False
    if not ended_well:
        out.close()
        return None
    out.seek(0)
    return _items(out)


def _items(out: IO[bytes]) -> Iterator[Any]:
    import pickle

    with out:
        while True:
            try:
                yield pickle.load(out)
            except EOFError:
                return


def _discard(pid: int, out: IO[bytes]) -> None:
    try:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    except OSError:
        pass
    out.close()
