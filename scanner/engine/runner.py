"""Run evaluation batches with a time limit, in forked worker processes.

The unit of work is one input (review + parameters) together with every template kind that must judge it: templates
whose constraints share parameters judge the very same input, and a backend may evaluate them in one query (shared
library rules are then computed once). Workers are forked after the backend has compiled every template and every
input has been serialised, so a batch is sent as a few numbers and only non-empty results come back.

A batch that fails (an exception, a time-out, a dead worker) is split into one batch per template kind, so the
failure is pinned on the template that caused it; that template is marked as errored and left out of every later
batch, while the other templates carry on.
"""

from __future__ import annotations

import gc
import os
import pickle
import tempfile
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from scanner.engine.backend import Backend, Outcome, Unit, evaluate_units
from scanner.engine.inputs import evaluations, kinds_at
from scanner.engine.isolated import crash_message, read_stderr, redirect_stderr
from scanner.engine.templates import Template

if TYPE_CHECKING:  # multiprocessing is imported where a worker is forked: the pre-commit hook never forks one
    from multiprocessing.connection import Connection

BATCH_SIZE = 128
MIN_EVALUATIONS_PER_EXTRA_WORKER = 4000


@dataclass(frozen=True, slots=True)
class Job:
    start: int
    end: int
    only: str | None = None  # evaluate just this kind (after a failed batch)
    excluded: tuple[str, ...] = ()  # kinds that have failed meanwhile


# Set in the parent right before forking; read by the children.
_STATE: tuple[Backend, Sequence[Unit]] | None = None


@dataclass(slots=True)
class RunResult:
    """What the workers found. Their results stay as they arrived, pickled and compressed (`pack`: a small
    fraction of their size as objects), until they are read: `in_order` unpacks one batch's units at a time."""

    # first unit index of a batch -> its pickled [(unit index, {kind: outcome})] lists (a failed batch split by kind
    # gives several for the same units)
    batches: dict[int, list[bytes]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # kind -> why the template failed
    _outcomes: dict[int, dict[str, Outcome]] | None = None

    def add(self, start: int, pickled: bytes) -> None:
        """The pickled results of a batch of the units from ``start`` on."""
        if self._outcomes is not None:
            raise RuntimeError("results were already unpacked")
        self.batches.setdefault(start, []).append(pickled)

    def in_order(self) -> Iterator[tuple[int, dict[str, Outcome]]]:
        """(unit index, kind -> outcome) for every unit with an outcome, by index; only non-empty outcomes."""
        if self._outcomes is not None:
            yield from sorted(self._outcomes.items())
            return
        for start in sorted(self.batches):
            merged: dict[int, dict[str, Outcome]] = {}
            for pickled in self.batches[start]:
                for index, outcomes in unpack(pickled):
                    merged.setdefault(index, {}).update(outcomes)
            yield from sorted(merged.items())

    @property
    def outcomes(self) -> dict[int, dict[str, Outcome]]:
        """Unit index -> kind -> outcome, all unpacked at once (and kept)."""
        if self._outcomes is None:
            self._outcomes = dict(self.in_order())
            self.batches = {}
        return self._outcomes


def pack(pairs: list[tuple[int, dict[str, Outcome]]]) -> bytes:
    """A batch's results as kept until read: pickled, then compressed (zlib's fastest level; violations repeat
    their keys and messages)."""
    return zlib.compress(pickle.dumps(pairs, pickle.HIGHEST_PROTOCOL), 1)


def unpack(packed: bytes) -> list[tuple[int, dict[str, Outcome]]]:
    """What `pack` packed."""
    return pickle.loads(zlib.decompress(packed))


def _kinds_for(units: Sequence[Unit], job: Job) -> list[tuple[int, tuple[str, ...]]]:
    """(unit index, the kinds ``job`` evaluates on it) for every unit of ``job`` with any."""
    selected = []
    for index in range(job.start, job.end):
        kept = tuple(k for k in kinds_at(units, index) if (job.only is None or k == job.only) and k not in job.excluded)
        if kept:
            selected.append((index, kept))
    return selected


def _units_for(units: Sequence[Unit], job: Job) -> list[tuple[int, Unit]]:
    """`_kinds_for` with each unit's text: what a worker evaluates."""
    return [(index, (kept, units[index][1])) for index, kept in _kinds_for(units, job)]


def _run_job(backend: Backend, units: Sequence[Unit], job: Job) -> list[tuple[int, dict[str, Outcome]]]:
    selected = _units_for(units, job)
    if not selected:
        return []
    outcomes = evaluate_units(backend, [unit for _, unit in selected])
    return [(index, {k: o for k, o in result.items() if o}) for (index, _), result in zip(selected, outcomes,
                                                                                            strict=True)
            if any(result.values())]


def serve(conn: Connection, backend: Backend, units: Sequence[Unit]) -> None:
    """Work as a runner worker in this already forked process: a backend's own child (`take_worker` in `Backend`)."""
    global _STATE
    _STATE = (backend, units)
    _worker_loop(conn)


def _worker_main(conn: Connection, stderr_fd: int) -> None:
    redirect_stderr(stderr_fd)  # what a dying engine prints goes into the policy error, not to the terminal
    _worker_loop(conn)


def _worker_loop(conn: Connection) -> None:
    assert _STATE is not None
    backend, units = _STATE
    while True:
        job = conn.recv()
        if job is None:
            return
        try:
            conn.send(("ok", pack(_run_job(backend, units, job))))
        except Exception as exc:  # the engine's own failure, pinned on a template by splitting the batch
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


def default_workers(evaluations: int) -> int:
    cpus = os.cpu_count() or 1
    return max(1, min(cpus, 1 + evaluations // MIN_EVALUATIONS_PER_EXTRA_WORKER))


OnOutcomes = Callable[[int, dict[str, Outcome]], None]


class _Scheduler:
    """The queue of jobs, failure splitting and result bookkeeping, shared by both execution modes."""

    def __init__(self, units: Sequence[Unit], on_progress: Callable[[int], None] | None,
                 on_outcomes: OnOutcomes | None = None) -> None:
        self.units = units
        self.result = RunResult()
        self.on_progress = on_progress
        self.on_outcomes = on_outcomes
        self.arrived: deque[bytes] = deque()  # packed results not yet handed to on_outcomes
        self.jobs: deque[Job] = deque(Job(s, min(s + BATCH_SIZE, len(units))) for s in range(0, len(units),
                                                                                            BATCH_SIZE))

    def next_job(self) -> Job | None:
        while self.jobs:
            job = self.jobs.popleft()
            if job.only is not None and job.only in self.result.errors:
                continue
            return Job(job.start, job.end, job.only, tuple(sorted(self.result.errors)))
        return None

    def _weight(self, job: Job) -> int:
        return sum(len(kinds) for _, kinds in _kinds_for(self.units, job))

    def done(self, job: Job, pickled: bytes) -> None:
        """``job`` finished: its pickled [(unit index, {kind: outcome})] list, as `_run_job` gives it."""
        if self.on_outcomes is None:
            self.result.add(job.start, pickled)
        else:
            self.arrived.append(pickled)
        if self.on_progress:
            self.on_progress(self._weight(job))

    def hand_over(self) -> None:
        """Hand the results that have arrived to ``on_outcomes``, unit by unit."""
        while self.arrived:
            for index, outcomes in unpack(self.arrived.popleft()):
                self.on_outcomes(index, outcomes)  # type: ignore[misc]  # only set when on_outcomes is

    def failed(self, job: Job, message: str) -> None:
        if job.only is not None:
            self.result.errors[job.only] = message
            if self.on_progress:
                self.on_progress(self._weight(job))
            return
        kinds = sorted({k for _, ks in _kinds_for(self.units, job) for k in ks})
        if len(kinds) == 1:
            self.result.errors[kinds[0]] = message
            return
        for kind in kinds:  # find the culprit: one batch per kind, ahead of the rest
            self.jobs.appendleft(Job(job.start, job.end, only=kind))


def load(backend: Backend, templates: list[Template], inventory: dict[str, Any], *, timeout: float) -> dict[str, str]:
    """Compile ``templates`` with ``timeout`` seconds per template (the backend enforces it: regorus compiles each
    in a forked child first, OPA's requests time out); compile errors by template kind."""
    set_time_limit = getattr(backend, "set_time_limit", None)
    if set_time_limit is not None:
        set_time_limit(timeout)
    return backend.load(templates, inventory)


def run(
    backend: Backend,
    units: Sequence[Unit],
    *,
    timeout: float,
    workers: int | None = None,
    on_progress: Callable[[int], None] | None = None,
    on_outcomes: OnOutcomes | None = None,
) -> RunResult:
    """Evaluate every unit; ``timeout`` limits each batch (seconds).

    ``on_outcomes`` takes each unit's non-empty outcomes (unit index, kind -> outcome) as its batch arrives,
    while the workers go on, instead of the result keeping them: in no particular order, and a unit whose batch
    was split comes in several parts, one per kind."""
    scheduler = _Scheduler(units, on_progress, on_outcomes)
    if not units:
        return scheduler.result
    prepare = getattr(backend, "prepare", None)  # work the backend does once it knows the units, before any worker
    if prepare is not None:
        prepare(units)
    in_process = getattr(backend, "in_process", None)  # a backend may find little work not worth a worker
    if (not backend.forkable or (workers is None and in_process is not None and in_process(units))
            or not can_fork()):
        set_time_limit = getattr(backend, "set_time_limit", None)  # in-process backends limit their own calls
        if set_time_limit is not None:
            set_time_limit(timeout)
        return _run_in_process(backend, scheduler)
    count = workers or default_workers(evaluations(units))
    return _run_forked(backend, scheduler, timeout, count)


def can_fork() -> bool:
    """Whether this platform starts processes by forking (workers inherit the compiled engine and the inputs)."""
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


def _run_in_process(backend: Backend, scheduler: _Scheduler) -> RunResult:
    while (job := scheduler.next_job()) is not None:
        try:
            scheduler.done(job, pack(_run_job(backend, scheduler.units, job)))
        except TimeoutError as exc:
            scheduler.failed(job, str(exc))
        except Exception as exc:  # a backend failure must not end the scan
            scheduler.failed(job, f"{type(exc).__name__}: {exc}")
        scheduler.hand_over()
    return scheduler.result


@dataclass(slots=True)
class _Worker:
    process: Any
    conn: Connection
    stderr: IO[bytes]
    job: Job | None = None
    deadline: float = 0.0


def _spawn(ctx: Any) -> _Worker:
    parent, child = ctx.Pipe()
    stderr = tempfile.TemporaryFile(prefix="kguard-engine-stderr-")  # noqa: SIM115 (closed in _stop)
    process = ctx.Process(target=_worker_main, args=(child, stderr.fileno()), daemon=True)
    process.start()
    child.close()
    return _Worker(process=process, conn=parent, stderr=stderr)


def _run_forked(backend: Backend, scheduler: _Scheduler, timeout: float, count: int) -> RunResult:
    import multiprocessing
    from multiprocessing.connection import wait

    global _STATE
    ctx = multiprocessing.get_context("fork")
    _STATE = (backend, scheduler.units)
    before_fork = getattr(backend, "before_fork", None)  # work every worker would repeat, done once here
    if before_fork is not None:
        before_fork()
    gc.freeze()  # a worker that garbage-collected what exists now would copy every page it touches
    _release_free_memory()
    size = min(count, len(scheduler.jobs))
    take_worker = getattr(backend, "take_worker", None)  # a child of the backend's that has compiled everything
    own = take_worker(scheduler.units) if take_worker is not None else None
    pool = [_Worker(process=own.process, conn=own.conn, stderr=own.stderr)] if own is not None else []
    pool.extend(_spawn(ctx) for _ in range(size - len(pool)))
    try:
        while True:
            for worker in pool:
                if worker.job is None and (job := scheduler.next_job()) is not None:
                    worker.job, worker.deadline = job, time.monotonic() + timeout
                    worker.conn.send(job)
            scheduler.hand_over()  # once every worker has its next job
            busy = [w for w in pool if w.job]
            if not busy:
                break
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
                        worker.process.join(5)
                        message = crash_message(worker.process.exitcode, read_stderr(worker.stderr))
                        pool[index] = _replace(ctx, worker)
                        scheduler.failed(job, message)
                        continue
                    worker.job = None
                    if status == "ok":
                        scheduler.done(job, payload)
                    else:
                        scheduler.failed(job, payload)
                elif time.monotonic() >= worker.deadline:
                    pool[index] = _replace(ctx, worker)
                    scheduler.failed(job, f"evaluation timed out after {timeout:g}s")
    finally:
        for worker in pool:
            _stop(worker)
        _STATE = None
    return scheduler.result


def _release_free_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc's `malloc_trim`) before the workers fork: memory the
    kguard process freed while it prepared would otherwise stay resident through the whole evaluation, the peak of
    a large scan (50,000 objects: 9-10 MB). Elsewhere than glibc, nothing happens."""
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _replace(ctx: Any, worker: _Worker) -> _Worker:
    worker.process.kill()
    worker.job = None
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
    worker.stderr.close()
