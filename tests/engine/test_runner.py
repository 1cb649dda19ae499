"""RunResult: batch results kept packed (pickled, compressed) as they arrive, read back in unit order."""

import pickle

import pytest

from scanner.engine.backend import EvalFailure
from scanner.engine.runner import RunResult, pack, unpack

VIOLATION = [{"msg": "bad", "details": {"field_path": ["spec", 0]}}]


def _pickled(pairs) -> bytes:
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
    result.add(128, _pickled([(130, {"K8sB": VIOLATION})]))
    result.add(0, _pickled([(5, {"K8sA": VIOLATION}), (1, {"K8sA": VIOLATION, "K8sB": VIOLATION})]))
    result.add(128, _pickled([(130, {"K8sA": EvalFailure("boom")}), (129, {"K8sA": VIOLATION})]))
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
        result.add(256, _pickled([]))


def test_no_batch_no_outcome():
    result = RunResult()
    assert list(result.in_order()) == [] and result.outcomes == {}
