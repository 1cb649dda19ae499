"""Process helpers of the fixtures: readiness waits, port-clash retries and process-group teardown."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.processes import start_logged, start_until_ready, stop_group, wait_until
from tests.fixtures.tools import free_loopback_ports

SERVE = (
    "import socket, sys, time; s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(); "
    "print('listening', flush=True); time.sleep(60)"
)


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_free_loopback_ports_are_distinct_and_bindable() -> None:
    ports = free_loopback_ports(4)
    assert len(set(ports)) == 4
    for port in ports:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))


def test_wait_until_reports_the_log_of_a_process_that_died(tmp_path: Path) -> None:
    log = tmp_path / "dying.log"
    process = start_logged([sys.executable, "-c", "print('boom: bad flag'); raise SystemExit(3)"], log)
    with pytest.raises(RuntimeError, match=r"(?s)dying exited with code 3.*boom: bad flag"):
        wait_until(lambda: False, process, log, "dying", timeout=10)


def test_start_until_ready_retries_when_the_port_was_taken(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports = [taken.getsockname()[1], *free_loopback_ports(1)]
        used: list[int] = []

        def launch() -> tuple[subprocess.Popen[bytes], Callable[[], bool]]:
            port = ports[len(used)]
            used.append(port)
            # Ready only when *this* process says it listens: the squatter on the taken port also accepts.
            return start_logged(
                [sys.executable, "-c", SERVE, str(port)], log
            ), lambda: "listening" in log.read_text() and _accepts(port)

        process = start_until_ready(launch, log, "server", timeout=10)
        try:
            assert used == ports
            assert process.poll() is None
        finally:
            stop_group(process)
    assert process.poll() is not None


def test_start_until_ready_does_not_retry_other_failures(tmp_path: Path) -> None:
    log = tmp_path / "broken.log"
    launches: list[int] = []

    def launch() -> tuple[subprocess.Popen[bytes], Callable[[], bool]]:
        launches.append(1)
        return start_logged([sys.executable, "-c", "raise SystemExit('config error')"], log), lambda: False

    with pytest.raises(RuntimeError, match="config error"):
        start_until_ready(launch, log, "broken", timeout=10)
    assert len(launches) == 1


def test_stop_group_kills_children_too(tmp_path: Path) -> None:
    child_pid_file = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time; "
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(child_pid_file)!r}, 'w').write(str(c.pid)); time.sleep(60)"
    )
    process = start_logged([sys.executable, "-c", script], tmp_path / "parent.log")
    wait_until(child_pid_file.exists, process, tmp_path / "parent.log", "parent", timeout=10)
    child_pid = int(child_pid_file.read_text())
    stop_group(process)
    assert process.poll() is not None
    deadline = time.monotonic() + 5
    while _alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child_pid)
