"""scanner/load/forked.py `start`: work run in a forked child comes back item by item; a failed child is None and
a discarded one is ended. (`map_forked` is tested through the forked load in test_files.py.)"""

import os
import threading
import time

from scanner.load import forked


def test_started_work_gives_its_items_made_in_another_process():
    here = os.getpid()
    started = forked.start(lambda: [{"pid": os.getpid()}, ("two", 2), None])
    assert started is not None
    items = started.result()
    assert items is not None
    made = list(items)
    assert made[1:] == [("two", 2), None] and made[0]["pid"] != here


def test_a_child_that_fails_gives_none():
    def boom():
        yield 1
        raise RuntimeError("the analysis broke")

    started = forked.start(boom)
    assert started is not None and started.result() is None


def test_a_discarded_child_is_ended_without_waiting_for_it():
    started = forked.start(lambda: [time.sleep(60)])
    assert started is not None
    begun = time.monotonic()
    started.discard()
    assert time.monotonic() - begun < 10
    pid = started._pid
    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive  # killed and reaped


def test_nothing_is_started_while_another_thread_runs():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert forked.start(lambda: [1]) is None
    finally:
        stop.set()
        thread.join()
