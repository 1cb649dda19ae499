"""Inputs: the evaluation units of a scan, stored compactly, read back as the (kinds, text) tuples they replace."""

import json
import multiprocessing
import pickle

import pytest

from scanner.engine.inputs import Inputs

TRICKY = '{"kind": {"kind": "Pod"}, "object": {"metadata": {"name": "a}b \\"review\\": \\u00e9 \u00e9 \U0001f600"}}}'


def _filled(compressed: bool = True) -> Inputs:
    inputs = Inputs(compressed=compressed)
    first = inputs.add_review(TRICKY)
    second = inputs.add_review("{}")
    inputs.add(("K8sA", "K8sB"), '{"key": "\\"review\\":"}', first)
    inputs.add(("K8sA",), "{}", second)
    inputs.add(("K8sC",), '{"n": 1}', first)  # a second parameter set judging the same review
    return inputs


@pytest.mark.parametrize("compressed", [True, False])
def test_a_unit_is_its_kinds_and_the_parameters_and_review_it_was_made_with(compressed):
    inputs = _filled(compressed)
    assert len(inputs) == 3
    kinds, text = inputs[0]
    assert kinds == ("K8sA", "K8sB")
    assert json.loads(text) == {"parameters": {"key": '"review":'}, "review": json.loads(TRICKY)}
    assert inputs[1] == (("K8sA",), '{"parameters":{},"review":{}}')
    assert json.loads(inputs[2][1]) == {"parameters": {"n": 1}, "review": json.loads(TRICKY)}
    assert inputs.review(0) == TRICKY and inputs.review(1) == "{}"


@pytest.mark.parametrize("compressed", [True, False])
def test_it_reads_like_the_list_of_tuples_it_replaces(compressed):
    inputs = _filled(compressed)
    as_list = [inputs[0], inputs[1], inputs[2]]
    assert list(inputs) == as_list
    assert inputs[-1] == as_list[-1]
    assert [kinds for kinds, _ in inputs] == [("K8sA", "K8sB"), ("K8sA",), ("K8sC",)]
    assert inputs.index(as_list[1]) == 1 and as_list[2] in inputs


def test_an_empty_one_has_no_units():
    inputs = Inputs()
    assert len(inputs) == 0 and list(inputs) == []
    with pytest.raises(IndexError):
        inputs[0]


def test_out_of_range_indices_and_reviews_are_refused():
    inputs = _filled()
    with pytest.raises(IndexError):
        inputs[3]
    with pytest.raises(IndexError):
        inputs.add(("K8sA",), "{}", 2)  # no such review
    with pytest.raises(IndexError):
        inputs.add(("K8sA",), "{}", -1)
    with pytest.raises(TypeError):
        inputs[0:1]  # type: ignore[index]


@pytest.mark.parametrize("compressed", [True, False])
def test_it_survives_pickling_as_sent_to_a_trial_child(compressed):
    inputs = _filled(compressed)
    copy = pickle.loads(pickle.dumps(inputs))
    assert list(copy) == list(inputs)


def test_reviews_are_kept_compressed_or_as_their_text():
    review = json.dumps({"object": {"metadata": {"labels": {f"label-{i}": "value" for i in range(200)}}}})
    compressed, raw = Inputs(), Inputs(compressed=False)
    for inputs in (compressed, raw):
        inputs.add_review(review)
        inputs.add_review(TRICKY)
    assert bytes(raw._buffer) == (review + TRICKY).encode()
    assert len(compressed._buffer) < len(review) // 3
    assert [compressed.review(n) for n in (0, 1)] == [raw.review(n) for n in (0, 1)] == [review, TRICKY]


def _read_in_child(inputs: Inputs, conn) -> None:
    conn.send(list(inputs))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
@pytest.mark.parametrize("compressed", [True, False])
def test_a_forked_child_reads_the_same_units(compressed):
    inputs = _filled(compressed)
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_read_in_child, args=(inputs, child))
    process.start()
    assert parent.recv() == list(inputs)
    process.join(10)
    assert process.exitcode == 0


def test_kinds_and_evaluation_counts_are_read_without_making_any_text(monkeypatch: pytest.MonkeyPatch):
    """Scheduling (how many workers, progress, splitting a failed batch) reads only the kinds: an `Inputs` makes no
    unit text (and decompresses no review) for it, and gives what the list of tuples would."""
    from scanner.engine.inputs import evaluations, kinds_at

    inputs = _filled()
    as_list = list(inputs)

    def no_text(self, number):
        raise AssertionError("a review was decompressed")

    monkeypatch.setattr(Inputs, "review", no_text)
    assert [kinds_at(inputs, i) for i in range(3)] == [kinds_at(as_list, i) for i in range(3)] == [
        ("K8sA", "K8sB"), ("K8sA",), ("K8sC",)]
    assert evaluations(inputs) == evaluations(as_list) == 4


@pytest.mark.parametrize("compressed", [True, False])
def test_reviews_encoded_elsewhere_read_back_as_if_added_here(compressed):
    texts = [TRICKY, "{}", '{"n": 2}', TRICKY]
    here, elsewhere = Inputs(compressed=compressed), Inputs(compressed=compressed)
    here.add_review(texts[0])
    elsewhere.add_review(texts[0])
    for text in texts[1:]:
        here.add_review(text)
    parts = [elsewhere.encode(text) for text in texts[1:]]
    elsewhere.add_encoded(b"".join(parts[:2]), [len(p) for p in parts[:2]])
    elsewhere.add_encoded(parts[2], [len(parts[2])])
    assert [elsewhere.review(n) for n in range(4)] == [here.review(n) for n in range(4)] == texts
    assert elsewhere.compressed is compressed


def test_encoded_reviews_whose_sizes_do_not_add_up_are_refused():
    inputs = Inputs()
    encoded = inputs.encode("{}")
    with pytest.raises(ValueError, match="not the"):
        inputs.add_encoded(encoded, [len(encoded) + 1])
    assert len(inputs._ends) == 0 and not inputs._buffer
