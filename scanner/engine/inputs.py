"""The evaluation inputs of a scan, stored compactly: a read-only sequence of `Unit`s made on access.

Forked workers read the inputs the parent built. Were they a list of `(kinds, text)` tuples, every read would write
the reference counts in those objects, and each worker would copy every page it read (about the size of all the
reviews, per worker). Here every review's JSON is kept once in one buffer, with numbers in arrays: a worker reads
them without writing to those pages, and a unit's text is made when it is asked for. Large scans keep the reviews
compressed (zlib, its fastest level: about a third of the text; 50,000 objects: 14 against 43 MB); small ones keep
them as text, which saves compressing them on one core before evaluation starts (4,500 objects: 40 ms).
"""

from __future__ import annotations

import zlib
from array import array
from collections.abc import Iterator, Sequence

from scanner.engine.backend import Unit


class Inputs(Sequence[Unit]):
    """Units of (template kinds, `{"parameters": ..., "review": ...}` JSON text) by index (slices are not
    supported). Reviews are added once each (`add_review`) and shared by the units that judge them (`add`)."""

    __slots__ = ("_buffer", "_compressed", "_ends", "_kinds", "_parameters", "_reviews")

    def __init__(self, *, compressed: bool = True) -> None:
        self._compressed = compressed
        self._buffer = bytearray()  # every review's JSON (UTF-8, compressed or not), one after another
        self._ends = array("Q")  # review n ends here in the buffer and begins where review n - 1 ends
        self._kinds: list[tuple[str, ...]] = []  # per unit (units judged alike share one tuple)
        self._parameters: list[str] = []  # per unit: the parameters' JSON (shared text)
        self._reviews = array("I")  # per unit: its review's number

    @property
    def compressed(self) -> bool:
        return self._compressed

    def encode(self, review_json: str) -> bytes:
        """A review's JSON text as this buffer keeps it: `add_encoded` takes reviews encoded in another process."""
        encoded = review_json.encode()
        return zlib.compress(encoded, 1) if self._compressed else encoded

    def add_review(self, review_json: str) -> int:
        """Keep one review's JSON text; its number for `add`."""
        self._buffer += self.encode(review_json)
        self._ends.append(len(self._buffer))
        return len(self._ends) - 1

    def add_encoded(self, encoded: bytes, sizes: Sequence[int]) -> None:
        """Keep reviews `encode` encoded, one after another in ``encoded``, ``sizes`` long each; they are numbered
        on from the last review kept."""
        if sum(sizes) != len(encoded):
            raise ValueError(f"{len(encoded)} bytes of encoded reviews, not the {sum(sizes)} their sizes add up to")
        end = len(self._buffer)
        self._buffer += encoded
        for size in sizes:
            end += size
            self._ends.append(end)

    def add(self, kinds: tuple[str, ...], parameters_json: str, review: int) -> None:
        """A unit: ``kinds`` judge review number ``review`` with these parameters."""
        if not 0 <= review < len(self._ends):
            raise IndexError(f"no review {review}")
        self._kinds.append(kinds)
        self._parameters.append(parameters_json)
        self._reviews.append(review)

    def review(self, number: int) -> str:
        """The JSON text of review ``number``."""
        start = self._ends[number - 1] if number else 0
        stored = self._buffer[start:self._ends[number]]
        return (zlib.decompress(stored) if self._compressed else stored).decode()

    def kinds(self, index: int) -> tuple[str, ...]:
        """The template kinds of unit ``index`` (its text is not made)."""
        return self._kinds[index]

    def __len__(self) -> int:
        return len(self._kinds)

    def __getitem__(self, index: int) -> Unit:  # type: ignore[override]
        if not isinstance(index, int):
            raise TypeError(f"Inputs indices must be integers, not {type(index).__name__}")
        kinds, parameters = self._kinds[index], self._parameters[index]
        return kinds, f'{{"parameters":{parameters},"review":{self.review(self._reviews[index])}}}'

    def __iter__(self) -> Iterator[Unit]:
        return (self[index] for index in range(len(self)))


def kinds_at(units: Sequence[Unit], index: int) -> tuple[str, ...]:
    """The template kinds of unit ``index``: scheduling needs only these, so `Inputs` does not make (and decompress)
    the unit's text for them."""
    return units.kinds(index) if isinstance(units, Inputs) else units[index][0]


def evaluations(units: Sequence[Unit]) -> int:
    """How many (unit, template kind) evaluations ``units`` ask for."""
    return sum(len(kinds_at(units, index)) for index in range(len(units)))
