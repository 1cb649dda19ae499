"""RunResult: batch results kept packed (pickled, compressed) as they arrive, read back in unit order."""

import json
import pickle
import platform

import pytest

from scanner.engine.backend import EvalFailure
from scanner.engine.runner import RunResult, pack, unpack

VIOLATION = [{"msg": "bad", "details": {"field_path": ["spec", 0]}}]


def _packed(pairs) -> bytes:
    return pack(pairs)  # what a worker sends


def test_a_packed_batch_reads_back_the_same_and_is_smaller_than_its_pickle() -> None:
    pairs = [(i, {"K8sA": [{"msg": f"container {i} runs privileged", "details": {"field_path": ["spec", i]}}],
                  "K8sB": EvalFailure("boom")}) for i in range(200)]
    packed = pack(pairs)
    assert unpack(packed) == pairs
    assert len(packed) * 4 < len(pickle.dumps(pairs, pickle.HIGHEST_PROTOCOL))


def _result() -> RunResult:
    result = RunResult()
    # batches finish out of order; the failed batch from 128 came back split by kind
    result.add(128, _packed([(130, {"K8sB": VIOLATION})]))
    result.add(0, _packed([(5, {"K8sA": VIOLATION}), (1, {"K8sA": VIOLATION, "K8sB": VIOLATION})]))
    result.add(128, _packed([(130, {"K8sA": EvalFailure("boom")}), (129, {"K8sA": VIOLATION})]))
    return result


def test_results_are_read_by_unit_index_with_the_kinds_of_split_batches_merged():
    assert [(index, sorted(by_kind)) for index, by_kind in _result().in_order()] == [
        (1, ["K8sA", "K8sB"]), (5, ["K8sA"]), (129, ["K8sA"]), (130, ["K8sA", "K8sB"])]
    merged = dict(_result().in_order())[130]
    assert merged == {"K8sB": VIOLATION, "K8sA": EvalFailure("boom")}


def test_outcomes_unpacks_everything_once_and_keeps_changes():
    result = _result()
    outcomes = result.outcomes
    assert sorted(outcomes) == [1, 5, 129, 130] and outcomes[5] == {"K8sA": VIOLATION}
    outcomes[130].pop("K8sA")
    assert result.outcomes is outcomes and result.outcomes[130] == {"K8sB": VIOLATION}
    assert [index for index, _ in result.in_order()] == [1, 5, 129, 130]
    assert dict(result.in_order())[130] == {"K8sB": VIOLATION}
    with pytest.raises(RuntimeError):  # nothing may arrive after the results were unpacked
        result.add(256, _packed([]))


def test_no_batch_no_outcome():
    result = RunResult()
    assert list(result.in_order()) == [] and result.outcomes == {}


def test_the_parent_makes_no_unit_text_when_workers_evaluate(monkeypatch: pytest.MonkeyPatch):
    """Forked workers make each unit's text where they evaluate it; the parent, which only schedules (workers,
    progress), never does. Verdicts are those of the same units evaluated in one process."""
    from scanner.engine import runner
    from scanner.engine.catalogue import default_policy_dir, load_catalogue
    from scanner.engine.inputs import Inputs
    from scanner.engine.regorus_backend import RegorusBackend
    from scanner.engine.templates import from_policy

    template = next(t for t in (from_policy(p)[0] for p in load_catalogue(default_policy_dir()))
                    if t.kind == "KguardPssPrivileged")
    inputs = Inputs()
    for i in range(300):
        privileged = {"privileged": True} if i % 3 == 0 else {}
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{i}", "namespace": "shop"},
               "spec": {"containers": [{"name": "app", "image": "app:1", "securityContext": privileged}]}}
        review = {"kind": {"group": "", "version": "v1", "kind": "Pod"}, "object": pod, "name": f"p{i}",
                  "namespace": "shop", "operation": "CREATE"}
        inputs.add((template.kind,), "{}", inputs.add_review(json.dumps(review)))
    made: list[int] = []
    review = Inputs.review
    monkeypatch.setattr(Inputs, "review", lambda self, number: made.append(number) or review(self, number))
    released: list[bool] = []  # free heap pages handed back before forking (see the test below)
    monkeypatch.setattr(runner, "_release_free_memory", lambda: released.append(True))
    backend = RegorusBackend()
    try:
        backend.load([template], {})
        progress: list[int] = []
        result = runner.run(backend, inputs, timeout=60, workers=2, on_progress=progress.append)
        assert made == [] and sum(progress) == 300  # the workers' texts were made in the workers
        assert released == [True]
        assert all(shared.program is not None for shared in backend._shared)  # they evaluated on the RVM (stop 22)
        expected = {i: outcome for i, outcome in enumerate(backend.evaluate_units(list(inputs)))
                    if any(outcome.values())}
        assert result.outcomes == expected and len(expected) == 100
        # the same outcomes handed over as they arrive instead (each once), none kept in the result
        handed: list[tuple[int, str, object]] = []
        result = runner.run(backend, inputs, timeout=60, workers=2, on_outcomes=lambda index, outcomes: handed.extend(
            (index, kind, outcome) for kind, outcome in outcomes.items()))
        handed.sort(key=lambda item: item[:2])
        assert handed == [(i, kind, o) for i, outcomes in sorted(expected.items()) for kind, o in outcomes.items()]
        assert result.batches == {} and result.outcomes == {}
    finally:
        backend.close()


class _Recording:
    """A backend that records when `prepare` and evaluations happen (in this process)."""

    name = "recording"
    forkable = False

    def __init__(self) -> None:
        self.calls: list[object] = []

    def prepare(self, units) -> None:
        self.calls.append(("prepare", [units.kinds(i) for i in range(len(units))]))

    def evaluate_units(self, units):
        self.calls.append(("evaluate", len(units)))
        return [{kind: [] for kind in kinds} for kinds, _ in units]


def test_the_backend_is_prepared_once_with_every_unit_before_any_evaluation():
    from scanner.engine import runner
    from scanner.engine.inputs import Inputs

    inputs = Inputs()
    for i in range(300):
        inputs.add(("A", "B") if i % 2 else ("A",), "{}", inputs.add_review(json.dumps({"i": i})))
    backend = _Recording()
    runner.run(backend, inputs, timeout=60)
    assert backend.calls[0] == ("prepare", [("A", "B") if i % 2 else ("A",) for i in range(300)])
    assert [c for c in backend.calls if c[0] == "prepare"] == backend.calls[:1]
    assert sum(c[1] for c in backend.calls[1:]) == 300


def _resident_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_the_heap_pages_freed_before_the_workers_fork_go_back_to_the_system():
    from scanner.engine.runner import _release_free_memory

    # ~40 MB in blocks that malloc takes from its heap (above pymalloc's 512 bytes, below mmap's threshold), and one
    # block after them, so that freeing them cannot shrink the heap from its end
    blocks = [bytearray(2048) for _ in range(20000)]
    last = bytearray(2048)
    del blocks
    freed_but_resident = _resident_kb()
    _release_free_memory()
    assert freed_but_resident - _resident_kb() > 20_000
    assert len(last) == 2048
