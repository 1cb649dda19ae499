"""Plain data passed between the stages: load -> Resource -> evaluate -> Finding -> report."""

from __future__ import annotations

import bisect
import enum
import hashlib
import json
import threading
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

FieldPath = tuple[str | int, ...]


class Severity(enum.IntEnum):
    """Finding severity; ordered so that comparisons mean 'at least as severe'."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    def blocks(self, threshold: Severity | None) -> bool:
        """Whether an unsuppressed finding of this severity fails a run with ``threshold`` (info never does)."""
        return threshold is not None and self >= threshold and self > Severity.INFO

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            choices = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r} (choose from {choices})") from None

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Position:
    """1-based line and column of a YAML/JSON node (end exclusive)."""

    line: int
    column: int
    end_line: int
    end_column: int


class PathTable:
    """Every field path met in this process, numbered once: a path's number comes from its parent's and its key.

    Documents store these numbers instead of a tuple per field; the tuples themselves are kept here, once each.
    Overlays are loaded in threads: a new number is assigned under a lock, known ones are read without.
    """

    ROOT = 0

    def __init__(self) -> None:
        self._numbers: dict[tuple[int, str | int], int] = {}
        self.paths: list[FieldPath] = [()]
        self._lock = threading.Lock()

    def child(self, parent: int, key: str | int) -> int:
        """The number of ``parent``'s path extended by ``key``, assigned on first use."""
        number = self._numbers.get((parent, key))
        if number is None:
            with self._lock:
                number = self._numbers.get((parent, key))
                if number is None:
                    self.paths.append((*self.paths[parent], key))
                    number = self._numbers[(parent, key)] = len(self.paths) - 1
        return number

    def fill(self, paths: Sequence[FieldPath]) -> None:
        """Number ``paths`` as their positions in it (another process's `paths`: the root first, every path after
        its parent), in place of what this table held."""
        number_of = {path: number for number, path in enumerate(paths)}
        self._numbers = {(number_of[path[:-1]], path[-1]): number for number, path in enumerate(paths) if path}
        self.paths = list(paths)

    def add(self, path: FieldPath) -> int:
        number = self.ROOT
        for key in path:
            number = self.child(number, key)
        return number

    def find(self, path: FieldPath) -> int | None:
        """The number of ``path``, or None when no document ever had it (keys compare as in a tuple)."""
        number: int | None = self.ROOT
        numbers = self._numbers
        for key in path:
            number = numbers.get((number, key))
            if number is None:
                return None
        return number


FIELD_PATHS = PathTable()


class Positions(Mapping[FieldPath, Position]):
    """The positions of one document's fields: a read-only mapping, stored compactly.

    Each field is its path's number in a `PathTable` (`FIELD_PATHS`, or that of the forked process that loaded the
    document) and four 0-based numbers (line, column, end line, end column, lines counted from the document's
    chunk), all in one array: the path numbers sorted (for a binary search), the same numbers in the order the
    fields were first recorded in (iteration follows it, as the dict this replaces did), then the four numbers of
    each field in sorted order. Two bytes a number when they all fit, four
    otherwise; `Position` objects are made only when asked for.
    """

    __slots__ = ("_count", "_data", "_line_base", "_table")

    def __init__(self, fields: dict[int, tuple[int, int, int, int]], line_base: int = 1,
                 table: PathTable | None = None) -> None:
        """From {path number: (line, column, end line, end column)} in the order the fields were recorded;
        ``line_base`` is added to lines and 1 to columns; the numbers are ``table``'s (`FIELD_PATHS`: this
        process's own)."""
        numbers = sorted(fields)
        values = [*numbers, *fields, *chain.from_iterable(map(fields.__getitem__, numbers))]
        try:
            self._data = array("H", values)
        except OverflowError:  # a number of 65,536 or more (a long document, a long line)
            self._data = array("I", values)
        self._count = len(numbers)
        self._line_base = line_base
        self._table = table if table is not None else FIELD_PATHS

    def _slot(self, path: object) -> int | None:
        if not isinstance(path, tuple):
            hash(path)  # an unhashable key raises, as with a dict
            return None
        number = self._table.find(path)
        if number is None:
            return None
        return self._slot_of(number)

    def _slot_of(self, number: int) -> int | None:
        at = self._recorded(number)
        return at if at < self._count and self._data[at] == number else None

    def _marks(self, slot: int) -> array[int]:
        """The four 0-based numbers of the field in ``slot``."""
        at = 2 * self._count + 4 * slot
        return self._data[at:at + 4]

    def _position(self, slot: int) -> Position:
        line, column, end_line, end_column = self._marks(slot)
        base = self._line_base
        return Position(line + base, column + 1, end_line + base, end_column + 1)

    def __getitem__(self, path: FieldPath) -> Position:
        slot = self._slot(path)
        if slot is None:
            raise KeyError(path)
        return self._position(slot)

    def get(self, path: FieldPath, default: Any = None) -> Any:
        slot = self._slot(path)
        return default if slot is None else self._position(slot)

    def __contains__(self, path: object) -> bool:
        return self._slot(path) is not None

    def _order(self) -> array[int]:
        """The path numbers in the order the fields were recorded."""
        return self._data[self._count:2 * self._count]

    def __iter__(self) -> Iterator[FieldPath]:
        paths = self._table.paths
        return (paths[number] for number in self._order())

    def __len__(self) -> int:
        return self._count

    def items(self) -> Iterator[tuple[FieldPath, Position]]:  # type: ignore[override]
        paths = self._table.paths
        return ((paths[number], self._position(self._recorded(number))) for number in self._order())

    def _recorded(self, number: int) -> int:
        """The slot of a path number this document has (where it would be, when it has not)."""
        return bisect.bisect_left(self._data, number, 0, self._count)

    def _marks_of(self, number: int) -> tuple[int, ...]:
        return tuple(self._marks(self._recorded(number)))

    def below(self, prefix: FieldPath) -> dict[str | int, Positions]:
        """The fields under ``prefix``, grouped by the key that follows it and re-rooted at that key's value (the
        items of a `kind: List`: ``below(("items",))[3]`` are item 3's own positions)."""
        groups: dict[str | int, dict[int, tuple[int, int, int, int]]] = {}
        depth, table = len(prefix), self._table
        for number in self._order():
            path = table.paths[number]
            if len(path) > depth and path[:depth] == prefix:
                group = groups.setdefault(path[depth], {})
                group[table.add(path[depth + 1:])] = self._marks_of(number)
        return {key: Positions(fields, self._line_base, table) for key, fields in groups.items()}

    def numbered(self) -> tuple[array[int], int, int]:
        """The fields as they are stored, by path number (data, count, line base): what a forked loader hands back,
        with its table's paths (see `numbered_in`)."""
        return self._data, self._count, self._line_base

    @classmethod
    def numbered_in(cls, numbered: tuple[array[int], int, int], table: PathTable) -> Positions:
        """The positions of another process's `numbered`, whose path numbers are ``table``'s."""
        positions = cls.__new__(cls)
        positions._data, positions._count, positions._line_base = numbered
        positions._table = table
        return positions

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled with the paths themselves: path numbers mean nothing in another process."""
        fields = {self._table.paths[number]: self._marks_of(number) for number in self._order()}
        return _unpickle_positions, (fields, self._line_base)

    def __repr__(self) -> str:
        return f"Positions({dict(self.items())!r})"


def _unpickle_positions(fields: dict[FieldPath, tuple[int, int, int, int]], line_base: int) -> Positions:
    return Positions({FIELD_PATHS.add(path): mark for path, mark in fields.items()}, line_base)


IdentityKey = tuple[str, str, str, str]  # (API group, kind, namespace or "", name): one object in any version


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceId:
    """The identity Kubernetes gives an object."""

    api_version: str
    kind: str
    name: str
    namespace: str | None = None

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def key(self) -> IdentityKey:
        """The identity whatever the API version: (group, kind, namespace or "", name)."""
        return (self.group, self.kind, self.namespace or "", self.name)

    def display(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {ns}{self.name}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
        }


@dataclass(slots=True, kw_only=True)
class Resource:
    """A Kubernetes object together with where each of its fields came from.

    ``positions`` maps a field path (keys and list indices from the object root) to its node's position;
    ``path`` is the display path of the source (repository-relative where possible) and ``doc_index`` the
    document's index inside that source.
    """

    obj: dict[str, Any]
    path: str
    doc_index: int = 0
    positions: Mapping[FieldPath, Position] = field(default_factory=dict)
    origin: str = "file"  # file | kustomize | cluster | stdin
    blame: Any = None  # optional callable(field_path) -> (path, Position) | None, set by the kustomize loader
    parent: Resource | None = None  # implied objects (expansion): the object findings are reported on
    parent_path: FieldPath = ()  # where this implied object sits inside ``parent``
    implied_by: str = ""  # the expansion that made it

    @property
    def api_version(self) -> str:
        return str(self.obj.get("apiVersion", ""))

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def metadata(self) -> dict[str, Any]:
        meta = self.obj.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def name(self) -> str:
        return str(self.metadata.get("name") or self.metadata.get("generateName") or "")

    @property
    def namespace(self) -> str | None:
        ns = self.metadata.get("namespace")
        return str(ns) if ns else None

    @property
    def identity(self) -> ResourceId:
        return ResourceId(
            api_version=self.api_version, kind=self.kind, name=self.name, namespace=self.namespace
        )

    @property
    def key(self) -> IdentityKey:
        """`identity.key` without building the identity."""
        return (self.api_version.rpartition("/")[0], self.kind, self.namespace or "", self.name)

    @property
    def occurrence(self) -> str:
        """Which copy of the object this is, as `Finding.occurrence` records it: `<path>#<document index>`."""
        return f"{self.path}#{self.doc_index}"

    def locate(self, field_path: FieldPath) -> tuple[str, Position]:
        """Source file and position of a field: the deepest existing prefix of ``field_path``."""
        if self.blame is not None:
            hit = self.blame(field_path)
            if hit is not None:
                return hit
        for end in range(len(field_path), -1, -1):
            pos = self.positions.get(tuple(field_path[:end]))
            if pos is not None:
                return self.path, pos
        return self.path, Position(1, 1, 1, 1)

    def location(self, field_path: FieldPath) -> Location:
        """`locate` as the `Location` a finding carries."""
        file, pos = self.locate(field_path)
        return Location(path=file, line=pos.line, column=pos.column, end_line=pos.end_line, end_column=pos.end_column)


@dataclass(frozen=True, slots=True, kw_only=True)
class Location:
    path: str
    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RelatedLocation:
    resource: ResourceId
    location: Location | None
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Suppression:
    """Why a finding does not count: an inline annotation or a baseline entry."""

    kind: str  # "inSource" (annotation) | "external" (baseline file)
    justification: str
    owner: str | None = None
    expires: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One policy violation on one object, located at the offending field."""

    rule_id: str
    severity: Severity
    category: str
    tags: tuple[str, ...]
    message: str
    resource: ResourceId
    location: Location
    field_path: FieldPath = ()
    remediation: str = ""
    constraint: str = ""  # "<ConstraintKind>/<name>"
    enforcement_action: str = "deny"
    related: tuple[RelatedLocation, ...] = ()
    suppression: Suppression | None = None
    fingerprint: str = ""
    occurrence: str = ""  # which copy of the object: "<source path>#<document index>" (suppressions stay on it)

    @property
    def suppressed(self) -> bool:
        return self.suppression is not None

    def sort_key(self) -> tuple[Any, ...]:
        loc = self.location
        return (loc.path, loc.line, loc.column, self.rule_id, self.message, self.fingerprint)


def fingerprint(rule_id: str, resource: ResourceId, field_path: FieldPath, message: str = "",
                source: str = "") -> str:
    """Stable identity of a finding: rule + resource identity + field path + the violation's message + which copy
    of the object (``source``, e.g. "<file>#<ordinal>"); never line numbers, so it survives moved lines.

    Two violations of one rule at one field with different messages, and the same object in two files, are
    distinct findings.
    """
    parts = [rule_id, resource.api_version.rpartition("/")[0], resource.kind, resource.namespace or "",
             resource.name, json.dumps(list(field_path)), message, source]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True, kw_only=True)
class Skipped:
    """Something the user gave that was not scanned, and why."""

    path: str
    reason: str
    line: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InputError:
    """Input that could not be read (bad YAML, render failure): scanning continues, exit code is 2."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyError:
    """A policy that failed to compile or evaluate; the other policies still ran."""

    policy: str
    message: str


@dataclass(slots=True, kw_only=True)
class ScanResult:
    """Everything a reporter needs; reporters never see loaders or engines."""

    findings: list[Finding]
    scanned: list[str] = field(default_factory=list)
    resources: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    input_errors: list[InputError] = field(default_factory=list)
    policy_errors: list[PolicyError] = field(default_factory=list)
    not_evaluated: list[Skipped] = field(default_factory=list)
    rules: list[Any] = field(default_factory=list)  # scanner.engine.catalogue.Rule
    category: str = "kguard"  # SARIF automationDetails.id prefix (one per overlay / cluster)
    coverage: list[dict[str, Any]] = field(default_factory=list)  # live audits: what could not be read
    # what the scan ran with, shown by every report: {"policies": {"source", "sha256"}, "config": Config.as_dict()}
    settings: dict[str, Any] = field(default_factory=dict)
    # the analyses' graphs for the HTML report (`scanner.analysis.graphs.graph_data`), when the scan was asked for them
    graphs: dict[str, Any] = field(default_factory=dict)

    def exit_code(self, fail_on: Severity | None) -> int:
        """0 = clean, 1 = an unsuppressed finding at or above ``fail_on``, 2 = input or policy errors."""
        if self.input_errors or self.policy_errors:
            return 2
        return 1 if any(f.severity.blocks(fail_on) and not f.suppressed for f in self.findings) else 0
