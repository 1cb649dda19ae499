"""Engine work where a hang or a crash of the Rust engine costs one item, not the scan.

regorus parses and evaluates in native code: a deeply nested literal can take exponential time to parse or overflow
the stack (the process dies with SIGSEGV), a huge allocation aborts it, and with `RUST_BACKTRACE` set a panic prints
a backtrace. `run_each` hands items to a forked child one at a time under a time limit; an item that hangs or kills
the child becomes a `Failed` and a new child carries on with the next item. Children write their stderr to a file,
never to the user's terminal; `crash_message` turns what a dying engine printed into one sanitised line.
"""

from __future__ import annotations

import faulthandler
import gc
import os
import re
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where a child is forked
    from multiprocessing.connection import Connection

MAX_DETAIL = 300
# What Rust prints around the message: backtrace frames, their locations, and the hints about RUST_BACKTRACE.
_NOISE = re.compile(r"^(?:\d+:|at\s|stack backtrace:|note:\s|Stack backtrace:|\[|Traceback|File\s)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True, slots=True)
class Failed:
    """The item hung, crashed its process or raised; the message is one line."""

    message: str


@dataclass(slots=True)
class Child:
    """A forked child that finished every item and now waits on ``conn`` (see ``linger`` in `run_each`)."""

    process: Any
    conn: Connection
    stderr: IO[bytes]

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()
        self.stderr.close()


def run_each(items: Sequence[Any], work: Callable[[Any], Any], *, timeout: float,
             linger: Callable[[Connection], None] | None = None, keep: list[Child] | None = None) -> Iterator[Any]:
    """``work(item)`` for every item, in order, in forked children: yields each result as soon as it is known (so
    the caller works alongside), or `Failed` for an item that ran longer than ``timeout`` seconds, crashed the
    child or raised. Without `fork`, in this process (no isolation).

    ``linger``: called in a child with its (two-way) connection after its last item, instead of exiting; when one
    child did every item, it is appended to ``keep`` alive (the caller owns it and must `stop` it), so the state it
    built can be used again.
    """
    if not items:
        return
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        yield from (_attempt(work, item) for item in items)
        return
    ctx = multiprocessing.get_context("fork")
    # What exists now is left out of garbage collection for good: a child that collected it would copy every page
    # it touches, and un-freezing would make this process collect it all soon after (about 0.1 s).
    gc.freeze()
    yield from _in_children(ctx, items, work, timeout, linger, keep)


def _in_children(ctx: Any, items: Sequence[Any], work: Callable[[Any], Any], timeout: float,
                 linger: Callable[[Connection], None] | None, keep: list[Child] | None) -> Iterator[Any]:
    done = 0
    while done < len(items):
        first = done == 0
        parent, child_end = ctx.Pipe()
        stderr = tempfile.TemporaryFile(prefix="kguard-engine-stderr-")  # noqa: SIM115 (owned by `child`)
        process = ctx.Process(target=_child, args=(child_end, items, done, work, stderr.fileno(), linger),
                              daemon=True)
        process.start()
        child_end.close()
        child = Child(process=process, conn=parent, stderr=stderr)
        kept = False
        try:
            while done < len(items):
                restart = True  # after a time-out or a crash, a new child takes the next item
                if not parent.poll(timeout):
                    result: Any = Failed(f"timed out after {timeout:g}s")
                else:
                    try:
                        result, restart = parent.recv(), False
                    except (EOFError, OSError):
                        process.join(5)
                        result = Failed(crash_message(process.exitcode, read_stderr(stderr)))
                done += 1
                if done == len(items) and not restart and first and linger is not None and keep is not None:
                    keep.append(child)  # before the last yield: the caller may stop iterating there
                    kept = True
                yield result
                if restart:
                    break
        finally:
            if not kept:  # a kept child belongs to the caller
                child.stop()


def _attempt(work: Callable[[Any], Any], item: Any) -> Any:
    try:
        return work(item)
    except Exception as exc:  # the item's own failure, reported with it
        return Failed(one_line(f"{type(exc).__name__}: {exc}"))


def _child(conn: Connection, items: Sequence[Any], start: int, work: Callable[[Any], Any], stderr_fd: int,
           linger: Callable[[Connection], None] | None) -> None:
    redirect_stderr(stderr_fd)
    for item in items[start:]:
        conn.send(_attempt(work, item))
    if linger is not None and start == 0:
        linger(conn)
    conn.close()


def redirect_stderr(fd: int) -> None:
    """Send this process's stderr to ``fd``: file descriptor 2 (where native code writes) and `sys.stderr`."""
    faulthandler.disable()  # it writes to a descriptor of its own; its Python dump says nothing about the engine
    os.dup2(fd, 2)
    sys.stderr = open(2, "w", encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115 (process-long)


def read_stderr(file: IO[bytes], limit: int = 64 * 1024) -> str:
    """The last ``limit`` bytes a child wrote to its stderr ``file``."""
    try:
        file.seek(0, os.SEEK_END)
        size = file.tell()
        file.seek(max(0, size - limit))
        return file.read().decode("utf-8", errors="replace")
    except (OSError, ValueError):
        return ""


def crash_message(exitcode: int | None, stderr: str) -> str:
    """One line for a child that died: how (signal or exit code) and the engine's own words, without backtraces,
    control characters or anything past `MAX_DETAIL` characters."""
    if exitcode is not None and exitcode < 0:
        try:
            how = signal.Signals(-exitcode).name
        except ValueError:
            how = f"signal {-exitcode}"
    else:
        how = f"exit code {exitcode}"
    detail = summarise(stderr)
    return f"the engine crashed ({how}){': ' + detail if detail else ''}"


def summarise(text: str) -> str:
    """The lines of ``text`` that say what happened (backtrace frames and hints dropped), as one short line."""
    kept = []
    for raw in text.splitlines():
        line = one_line(raw)
        if line and not _NOISE.match(line) and line not in kept:
            kept.append(line)
    joined = "; ".join(kept[:3])
    return joined if len(joined) <= MAX_DETAIL else joined[:MAX_DETAIL - 3] + "..."


def one_line(text: str) -> str:
    """``text`` with control and bidirectional characters replaced and whitespace collapsed."""
    return " ".join(_CONTROL.sub(" ", text).split())
