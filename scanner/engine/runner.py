"""Run evaluation batches with a time limit, in forked worker processes.

Workers are forked after the backend has compiled every template and after every input has been serialised, so a
batch is sent as three numbers and only non-empty results come back. A batch that exceeds its time limit or a worker
that dies marks that template as errored; the worker is replaced and the other templates carry on.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from scanner.engine.backend import Backend, Outcome

BATCH_SIZE = 256
MIN_INPUTS_PER_EXTRA_WORKER = 4000

# Set in the parent right before forking; read by the children.
_STATE: tuple[Backend, dict[str, list[str]]] | None = None


@dataclass(slots=True)
class RunResult:
    outcomes: dict[str, dict[int, Outcome]] = field(default_factory=dict)  # kind -> input index -> outcome
    errors: dict[str, str] = field(default_factory=dict)  # kind -> why the template failed


def _batches(inputs: dict[str, list[str]]) -> deque[tuple[str, int, int]]:
    jobs: deque[tuple[str, int, int]] = deque()
    for kind in sorted(inputs):
        count = len(inputs[kind])
        for start in range(0, count, BATCH_SIZE):
            jobs.append((kind, start, min(start + BATCH_SIZE, count)))
    return jobs


def _run_batch(backend: Backend, inputs: dict[str, list[str]], job: tuple[str, int, int]) -> list[tuple[int, Outcome]]:
    kind, start, end = job
    outcomes = backend.evaluate(kind, inputs[kind][start:end])
    return [(start + i, outcome) for i, outcome in enumerate(outcomes) if outcome]


def _worker_main(conn: Connection) -> None:
    assert _STATE is not None
    backend, inputs = _STATE
    while True:
        job = conn.recv()
        if job is None:
            return
        try:
            conn.send(("ok", _run_batch(backend, inputs, job)))
        except Exception as exc:  # the engine's own failure, reported as the template's error
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


def default_workers(total_inputs: int) -> int:
    cpus = os.cpu_count() or 1
    return max(1, min(cpus, 1 + total_inputs // MIN_INPUTS_PER_EXTRA_WORKER))


def run(
    backend: Backend,
    inputs: dict[str, list[str]],
    *,
    timeout: float,
    workers: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> RunResult:
    """Evaluate every input of every template kind; ``timeout`` limits each batch (seconds)."""
    result = RunResult()
    jobs = _batches(inputs)
    if not jobs:
        return result
    if not backend.forkable or "fork" not in multiprocessing.get_all_start_methods():
        set_time_limit = getattr(backend, "set_time_limit", None)  # in-process backends limit their own calls
        if set_time_limit is not None:
            set_time_limit(timeout)
        return _run_in_process(backend, inputs, jobs, result, on_progress)
    return _run_forked(backend, inputs, jobs, result, timeout,
                       workers or default_workers(sum(map(len, inputs.values()))), on_progress)


def _record(result: RunResult, kind: str, pairs: list[tuple[int, Outcome]]) -> None:
    result.outcomes.setdefault(kind, {}).update(pairs)


def _run_in_process(backend: Backend, inputs: dict[str, list[str]], jobs: deque[tuple[str, int, int]],
                    result: RunResult, on_progress: Callable[[int], None] | None) -> RunResult:
    for job in jobs:
        if job[0] in result.errors:
            continue
        try:
            _record(result, job[0], _run_batch(backend, inputs, job))
        except TimeoutError as exc:
            result.errors[job[0]] = str(exc)
        except Exception as exc:  # a backend failure must not end the scan
            result.errors[job[0]] = f"{type(exc).__name__}: {exc}"
        if on_progress:
            on_progress(job[2] - job[1])
    return result


@dataclass(slots=True)
class _Worker:
    process: Any
    conn: Connection
    job: tuple[str, int, int] | None = None
    deadline: float = 0.0


def _spawn(ctx: Any) -> _Worker:
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_worker_main, args=(child,), daemon=True)
    process.start()
    child.close()
    return _Worker(process=process, conn=parent)


def _run_forked(backend: Backend, inputs: dict[str, list[str]], jobs: deque[tuple[str, int, int]],
                result: RunResult, timeout: float, count: int,
                on_progress: Callable[[int], None] | None) -> RunResult:
    global _STATE
    ctx = multiprocessing.get_context("fork")
    _STATE = (backend, inputs)
    pool = [_spawn(ctx) for _ in range(min(count, len(jobs)))]
    try:
        while jobs or any(w.job for w in pool):
            for worker in pool:
                while worker.job is None and jobs:
                    job = jobs.popleft()
                    if job[0] in result.errors:
                        continue
                    worker.job, worker.deadline = job, time.monotonic() + timeout
                    worker.conn.send(job)
            busy = [w for w in pool if w.job]
            if not busy:
                continue
            wait_for = max(0.0, min(w.deadline for w in busy) - time.monotonic())
            ready = set(wait([w.conn for w in busy], timeout=wait_for))
            for index, worker in enumerate(pool):
                job = worker.job
                if job is None:
                    continue
                if worker.conn in ready:
                    try:
                        status, payload = worker.conn.recv()
                    except (EOFError, OSError):
                        code = worker.process.join(1) or worker.process.exitcode
                        result.errors[job[0]] = f"the engine crashed (worker exit code {code})"
                        pool[index] = _replace(ctx, worker)
                        continue
                    if status == "ok":
                        _record(result, job[0], payload)
                    else:
                        result.errors[job[0]] = payload
                    worker.job = None
                    if on_progress:
                        on_progress(job[2] - job[1])
                elif time.monotonic() >= worker.deadline:
                    result.errors[job[0]] = f"evaluation timed out after {timeout:g}s"
                    pool[index] = _replace(ctx, worker)
    finally:
        for worker in pool:
            _stop(worker)
        _STATE = None
    return result


def _replace(ctx: Any, worker: _Worker) -> _Worker:
    worker.process.kill()
    _stop(worker)
    return _spawn(ctx)


def _stop(worker: _Worker) -> None:
    try:
        if worker.process.is_alive() and worker.job is None:
            worker.conn.send(None)
            worker.process.join(1)
    except (OSError, ValueError):
        pass
    if worker.process.is_alive():
        worker.process.kill()
    worker.process.join(1)
    worker.conn.close()
