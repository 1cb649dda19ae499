"""`isolated.run_each`: one item that hangs, crashes its process or raises costs that item only."""

from __future__ import annotations

import os
import sys
import time

from scanner.engine.isolated import Failed, crash_message, run_each, summarise

RUST_ABORT = """memory allocation of 2400000000000000 bytes failed
stack backtrace:
   0: std::backtrace_rs::backtrace::libunwind::trace
             at /rustc/abc/library/std/src/../../backtrace/src/backtrace/libunwind.rs:116:5
   1: std::alloc::rust_oom
note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.
"""


def _work(item: str) -> str:
    if item == "hang":
        time.sleep(60)
    if item == "abort":
        os.write(2, RUST_ABORT.encode())
        os.abort()
    if item == "raise":
        raise ValueError("bad\nitem")
    if item == "print":
        print("noise on stderr", file=sys.stderr, flush=True)
    return item.upper()


def test_results_come_in_order_and_each_failure_stays_with_its_item(capfd):
    started = time.monotonic()

    results = list(run_each(["a", "hang", "b", "abort", "raise", "print", "c"], _work, timeout=1))

    assert results == ["A", Failed("timed out after 1s"), "B",
                       Failed("the engine crashed (SIGABRT): memory allocation of 2400000000000000 bytes failed"),
                       Failed("ValueError: bad item"), "PRINT", "C"]
    assert time.monotonic() - started < 30
    assert capfd.readouterr().err == ""  # the children's stderr never reaches ours


def test_no_items_start_no_child():
    assert list(run_each([], _work, timeout=1)) == []


def test_a_summary_keeps_the_message_and_drops_backtraces_and_control_characters():
    assert summarise(RUST_ABORT) == "memory allocation of 2400000000000000 bytes failed"
    assert summarise("thread 'x' panicked at src/a.rs:1:2:\nboom \x1b[31mred\x1b[0m\n") == \
        "thread 'x' panicked at src/a.rs:1:2:; boom [31mred [0m"
    assert len(summarise("x" * 1000)) == 300


def test_crash_messages_name_the_signal_or_exit_code():
    assert crash_message(-11, "") == "the engine crashed (SIGSEGV)"
    assert crash_message(3, "fatal runtime error: stack overflow\n") == \
        "the engine crashed (exit code 3): fatal runtime error: stack overflow"
