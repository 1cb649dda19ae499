"""Parse YAML/JSON text into JSON values, as Kubernetes decodes them, plus the position of every field.

A stream is split into documents the way kubectl splits it (a line starting with ``---``), and each document is
parsed on its own, so one broken document is one error at its own line and never costs the others. Within a
document we compose the YAML node tree (libyaml when available) and build the values ourselves with go-yaml v2's
scalar rules and sigs.k8s.io/yaml's JSON conversion (`scanner.load.go_yaml`), so every mapping entry and list item
keeps its line and column and every value is what the API server would store.

Construction is bounded: alias expansion ("billion laughs", also go-yaml's aliasing ratio), nesting depth and size
all have explicit limits, per document, per file and per run (`NodeBudget`); exceeding one is an error for that
document, never a hang. Known differences from Kubernetes: nesting deeper than `MAX_DEPTH` is refused, and a
document whose keys collide only after conversion to strings (``1`` and ``"1"``) keeps the later one where Go's
choice is random.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from scanner.load import go_yaml
from scanner.model import FIELD_PATHS, Positions

try:  # libyaml is much faster; fall back to the pure-Python loader
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

MAX_FILE_BYTES = 32 * 1024 * 1024
MAX_NODES_PER_DOCUMENT = 250_000
MAX_NODES_PER_FILE = 1_000_000
MAX_NODES_PER_RUN = 5_000_000
MAX_DEPTH = 200

INTERNAL_PREFIX = "cannot parse this document"
_PLAIN = "!kguard/plain"  # an untagged plain scalar: resolved by go-yaml v2's rules
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_ALIAS_RATIO_LOW, _ALIAS_RATIO_HIGH = 400_000, 4_000_000  # go-yaml v2's "excessive aliasing" rule


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """Composes nodes only; untagged plain scalars keep a marker tag instead of PyYAML's (YAML 1.1) guess."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        # PyYAML calls these two hooks for every node to follow its path resolvers, of which there are none here:
        # built-in functions that do nothing with their arguments cost less than its Python methods (about 10 % of
        # composing a document)
        self.descend_resolver = operator.is_  # (parent, index)
        self.ascend_resolver = tuple  # ()

    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            return _PLAIN if implicit[0] else _STR_TAG
        return self.DEFAULT_SEQUENCE_TAG if kind is SequenceNode else self.DEFAULT_MAPPING_TAG


class YamlLoadError(Exception):
    """Unreadable or unsafe YAML; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(slots=True)
class Document:
    value: Any
    positions: Positions
    index: int


@dataclass(slots=True)
class Ignored:
    """Text kubectl ignores too (content after a ``...`` document end marker)."""

    line: int
    reason: str


class NodeBudget:
    """Nodes (after alias expansion) still allowed for this run and for the file being read.

    Documents that fail still pay for the nodes they built, so many bad documents cannot buy unbounded time.
    """

    def __init__(self, run_share: int = 1) -> None:
        """``run_share``: this budget is one of that many sharing the run's nodes (parsed in forked processes), so
        it allows its share of them (the messages name the run's limit)."""
        self.per_document, self.per_file, self.per_run = MAX_NODES_PER_DOCUMENT, MAX_NODES_PER_FILE, MAX_NODES_PER_RUN
        self.run_left = self.per_run // run_share
        self.file_left = self.per_file

    def start_file(self) -> None:
        self.file_left = self.per_file

    def limit(self) -> tuple[int, str]:
        """The tightest limit on the next document, and how to name it when exceeded (the first of equal ones)."""
        tightest = min(self.per_document, self.file_left, self.run_left)
        if tightest == self.per_document:
            return tightest, f"document expands to more than {self.per_document:,} nodes"
        if tightest == self.file_left:
            return tightest, (f"file expands to more than {self.per_file:,} nodes; its remaining documents were not"
                              " read")
        return tightest, (f"the input expands to more than {self.per_run:,} nodes in this run; remaining documents"
                          " were not read")

    def used_up(self) -> bool:
        """Whether the run's nodes (or this budget's share of them) are all spent."""
        return self.run_left <= 0

    def charge(self, nodes: int) -> None:
        self.run_left = max(0, self.run_left - nodes)
        self.file_left = max(0, self.file_left - nodes)


_YAML_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # what libyaml counts as a new line
_OTHER_BREAKS = "\r\x85\u2028\u2029"  # line breaks for YAML besides "\n"
_SEPARATOR = re.compile("\n---")  # kubectl's lines end at "\n" only


class _Chunk:
    """One kubectl document: its text, the 0-based line it starts on, and a problem with its separator line.

    Its lines as YAML counts them are split only when asked for (tags, error hints, ignored text).
    """

    __slots__ = ("_lines", "first_line", "problem", "text")

    def __init__(self, text: str, first_line: int, problem: str = "") -> None:
        self.text = text
        self.first_line = first_line
        self.problem = problem
        self._lines: list[str] | None = None

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = _YAML_BREAK.split(self.text)
        return self._lines


def split_documents(text: str) -> Iterator[_Chunk]:
    """The documents of a stream as kubectl's YAML reader cuts them: at every line starting with ``---``.

    kubectl reads lines up to "\n" only; line numbers count every break YAML counts (also a lone "\r"), so they
    match the positions libyaml reports inside a document. The separator line stays in the document it opens (YAML
    sees it and line numbers hold). Only spaces or a comment may follow ``---``; anything else is a problem kubectl
    refuses too.
    """
    starts = [match.start() + 1 for match in _SEPARATOR.finditer(text)]
    only_newlines = not any(character in text for character in _OTHER_BREAKS)
    first_line = 0
    for begin, end in zip([0, *starts], [*starts, len(text)], strict=True):
        chunk = _Chunk(text[begin:end], first_line)
        if text.startswith("---", begin):
            line_end = text.find("\n", begin, end)
            separator = text[begin:end if line_end < 0 else line_end + 1]
            rest = separator[3:].strip()
            if rest and not rest.startswith("#"):
                chunk.problem = (f"invalid document separator {_clip(separator.rstrip())} (only a comment may follow"
                                 " '---')")
        yield chunk
        first_line += chunk.text.count("\n") if only_newlines else len(chunk.lines) - 1


def _clip(text: str, limit: int = 60) -> str:
    text = text if len(text) <= limit else text[:limit] + "..."
    return repr(text)


class _Builder:
    """Turns one composed document into JSON values + field positions, counting every node it visits.

    Positions are recorded as {path number: (line, column, end line, end column)}, 0-based and relative to the
    chunk, in the order the fields are met; a later duplicate key overwrites the earlier one's, as a dict would.

    Counting follows go-yaml v2: every node visited (an alias expands to all of its nodes again) is charged to the
    node budget, and the share of decodes made inside aliases is bounded. Outside aliases, with fewer than 100
    alias decodes so far, counting a node is just ``visited += 1`` against ``quick_limit``; otherwise
    `_check_counts` applies every rule.
    """

    __slots__ = ("active", "alias_decodes", "alias_depth", "alias_refs", "anchored", "chunk", "fields", "limit",
                 "limit_message", "may_have_tags", "offset", "quick_limit", "seen", "visited")

    def __init__(self, chunk: _Chunk, limit: int, limit_message: str) -> None:
        self.fields: dict[int, tuple[int, int, int, int]] = {}
        self.offset = chunk.first_line
        self.chunk = chunk
        self.may_have_tags = "!" in chunk.text
        # without an '&' there is no anchor, so no node can be met twice: no alias bookkeeping is needed
        self.anchored = "&" in chunk.text
        self.limit = self.quick_limit = limit
        self.limit_message = limit_message
        self.visited = 0  # nodes, alias expansions included
        self.alias_refs = 0  # alias references; go-yaml's decode count is visited + alias_refs
        self.alias_decodes = 0  # decodes made inside an alias
        self.alias_depth = 0
        self.seen: set[int] = set()  # nodes met so far (anchored documents only)
        self.active: set[int] = set()  # collections being built (anchored documents only)

    def fail(self, message: str, node: Node) -> YamlLoadError:
        return YamlLoadError(message, node.start_mark.line + 1 + self.offset)

    def _count(self, node: Node) -> None:
        self.visited += 1
        if self.visited > self.quick_limit:
            self._check_counts(node)

    def _check_counts(self, node: Node) -> None:
        """Every counting rule for a node just added to ``visited``."""
        if self.visited > self.limit:
            raise self.fail(self.limit_message, node)
        if self.alias_depth:
            self.alias_decodes += 1
        self._check_ratio(node)

    def _count_alias(self, node: Node) -> None:
        """An alias reference: no node of its own, but go-yaml's ratio counts it."""
        self.alias_refs += 1
        if self.alias_depth:
            self.alias_decodes += 1
        self._check_ratio(node)

    def _check_ratio(self, node: Node) -> None:
        decodes = self.visited + self.alias_refs
        if self.alias_decodes > 100 and decodes > 1000 and (
                self.alias_decodes / decodes > _allowed_alias_ratio(decodes)):
            raise self.fail("document contains excessive aliasing (alias expansion bomb?)", node)

    def _set_alias_depth(self, depth: int) -> None:
        self.alias_depth = depth
        self.quick_limit = self.limit if not depth and self.alias_decodes <= 100 else -1

    def build(self, node: Node, path: int, depth: int) -> Any:
        """The JSON value of ``node`` at path number ``path``; a node met again is an alias, expanded like go-yaml
        does.

        On an error the builder is thrown away, so its bookkeeping needs no unwinding.
        """
        key = id(node)
        alias = self.anchored and key in self.seen
        if alias:
            self._count_alias(node)
            self._set_alias_depth(self.alias_depth + 1)
        elif self.anchored:
            self.seen.add(key)
        if type(node) is ScalarNode:
            value = self._scalar(node)
        else:
            self._count(node)
            if depth > MAX_DEPTH:
                raise self.fail(f"nesting deeper than {MAX_DEPTH} levels", node)
            if key in self.active:
                raise self.fail("anchor value contains itself (recursive alias)", node)
            if self.anchored:
                self.active.add(key)
            value = self._collection(node, path, depth)
            self.active.discard(key)
        if alias:
            self._set_alias_depth(self.alias_depth - 1)
        return value

    def _collection(self, node: Node, path: int, depth: int) -> Any:
        """The value of a mapping or sequence node (already counted)."""
        if type(node) is MappingNode:
            result: dict[str, Any] = {}
            self._fill(node, result, path, depth)
            return result
        if type(node) is not SequenceNode:
            raise self.fail(f"unsupported YAML node {type(node).__name__}", node)
        items = []
        fields, child_number = self.fields, FIELD_PATHS.child
        for index, item in enumerate(node.value):
            child = child_number(path, index)
            start, end = item.start_mark, item.end_mark
            fields[child] = (start.line, start.column, end.line, end.column)
            if type(item) is ScalarNode:
                items.append(self._scalar_child(item, child, depth + 1))
            else:
                items.append(self.build(item, child, depth + 1))
        return items

    def _fill(self, node: MappingNode, result: dict[str, Any], path: int, depth: int) -> None:
        """Entries of ``node`` into ``result`` in order, later ones winning (go-yaml v2, merge keys included)."""
        fields, child_number = self.fields, FIELD_PATHS.child
        for key_node, value_node in node.value:
            if type(key_node) is ScalarNode and key_node.value == "<<" and key_node.tag in (_PLAIN, _MERGE_TAG):
                self._merge(value_node, result, path, depth)
                continue
            key = self._key(key_node)
            child = child_number(path, key)
            start = key_node.start_mark
            if type(value_node) is ScalarNode:
                end = value_node.end_mark
                fields[child] = (start.line, start.column, end.line, end.column)
                result[key] = self._scalar_child(value_node, child, depth + 1)
            else:
                end = key_node.end_mark
                fields[child] = (start.line, start.column, end.line, end.column)
                result[key] = self.build(value_node, child, depth + 1)

    def _scalar_child(self, node: ScalarNode, path: int, depth: int) -> Any:
        """`build` for a scalar child, in short: an alias goes to `build`, any other scalar to `_scalar`."""
        if self.anchored:
            key = id(node)
            if key in self.seen:
                return self.build(node, path, depth)
            self.seen.add(key)
        return self._scalar(node)

    def _merge(self, value_node: Node, result: dict[str, Any], path: int, depth: int) -> None:
        is_list = isinstance(value_node, SequenceNode) and id(value_node) not in self.seen  # not an alias
        sources = list(reversed(value_node.value)) if is_list else [value_node]
        for source in sources:
            if not isinstance(source, MappingNode):
                raise self.fail("map merge requires map or sequence of maps as the value", source)
            merged = self.build(source, path, depth + 1)
            result.update(merged)

    def _key(self, node: Node) -> str:
        if type(node) is not ScalarNode:
            hint = " (template braces {{ }}? render the template first)" if "{{" in self._line(node) else ""
            raise self.fail(f"invalid map key: a {'list' if isinstance(node, SequenceNode) else 'mapping'}{hint}",
                            node)
        self.visited += 1  # `_count`, written out: one per mapping entry
        if self.visited > self.quick_limit:
            self._check_counts(node)
        text = node.value
        try:
            if (node.tag == _PLAIN and len(text) <= go_yaml.SHORT and not node.style
                    and not (self.may_have_tags and self._has_tag(node))):  # most keys: remembered
                return go_yaml.short_plain_key(text)
            return go_yaml.json_key(*self._resolve(node))
        except go_yaml.DecodeError as exc:
            raise self.fail(str(exc), node) from None

    def _scalar(self, node: ScalarNode) -> Any:
        """Count and decode a scalar node (`build` keeps the alias bookkeeping)."""
        self.visited += 1  # `_count`, written out: most nodes are scalars
        if self.visited > self.quick_limit:
            self._check_counts(node)
        text = node.value
        try:
            if (node.tag == _PLAIN and len(text) <= go_yaml.SHORT and not node.style
                    and not (self.may_have_tags and self._has_tag(node))):  # most values: remembered
                return go_yaml.short_plain_value(text)
            return go_yaml.json_value(*self._resolve(node))
        except go_yaml.DecodeError as exc:
            raise self.fail(str(exc), node) from None

    def _resolve(self, node: ScalarNode) -> tuple[str, Any]:
        tag = node.tag
        try:
            if tag == _STR_TAG:
                return go_yaml.STR, node.value
            if tag == _PLAIN:
                if node.style or (self.may_have_tags and self._has_tag(node)):  # the non-specific tag "!": text
                    return go_yaml.STR, node.value
                return go_yaml.resolve_plain(node.value)
            return go_yaml.resolve_tagged(tag, node.value)
        except go_yaml.DecodeError as exc:
            raise self.fail(str(exc), node) from None

    def _line(self, node: Node) -> str:
        row, lines = node.start_mark.line, self.chunk.lines
        return lines[row] if row < len(lines) else ""

    def _has_tag(self, node: Node) -> bool:
        """Whether the node's text starts with a ``!`` tag (after an optional anchor)."""
        mark, lines = node.start_mark, self.chunk.lines
        row, column = mark.line, mark.column
        if row >= len(lines) or lines[row][column:column + 1] not in ("!", "&"):
            return False
        text = lines[row][column:]
        if text.startswith("&"):
            parts = text.split(None, 1)
            text = parts[1] if len(parts) > 1 else ""
        return text.startswith("!")


def _allowed_alias_ratio(decodes: int) -> float:
    if decodes <= _ALIAS_RATIO_LOW:
        return 0.99
    if decodes >= _ALIAS_RATIO_HIGH:
        return 0.10
    return 0.99 - 0.89 * (decodes - _ALIAS_RATIO_LOW) / (_ALIAS_RATIO_HIGH - _ALIAS_RATIO_LOW)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _syntax_error(exc: yaml.YAMLError, offset: int) -> YamlLoadError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 + offset if mark is not None else None
        problem = " ".join(filter(None, [exc.context, exc.problem]))
        return YamlLoadError(f"invalid YAML: {_one_line(problem)}", line)
    return YamlLoadError(f"invalid YAML: {_one_line(str(exc))}", offset + 1)


def _has_more(loader: _Loader) -> bool:
    try:
        return bool(loader.check_node())
    except yaml.YAMLError:
        return True


def _parse_chunk(chunk: _Chunk, index: int, budget: NodeBudget) -> Iterator[Document | YamlLoadError | Ignored]:
    """The first document of one kubectl document (as go-yaml's Unmarshal reads it), or its error."""
    if chunk.problem:
        yield YamlLoadError(chunk.problem, chunk.first_line + 1)
        return
    loader = _Loader(chunk.text)
    try:
        if not loader.check_node():
            return
        node = loader.get_node()
        if node is None:
            return
        limit, message = budget.limit()
        builder = _Builder(chunk, limit, message)
        try:
            value = builder.build(node, FIELD_PATHS.ROOT, 0)
        finally:
            budget.charge(builder.visited)
        if value is None:
            return
        start, end = node.start_mark, node.end_mark
        builder.fields[FIELD_PATHS.ROOT] = (start.line, start.column, end.line, end.column)
        yield Document(value=value, positions=Positions(builder.fields, chunk.first_line + 1),
                       index=index)
        if _has_more(loader):
            end = next((n for n in range(node.end_mark.line, len(chunk.lines))
                        if chunk.lines[n].startswith("...")), node.end_mark.line)
            yield Ignored(end + 1 + chunk.first_line,
                          "a second YAML document without a '---' line before it is ignored (as kubectl does)")
    except yaml.YAMLError as exc:
        yield _syntax_error(exc, chunk.first_line)
    except YamlLoadError as exc:
        yield exc
    except RecursionError:
        yield YamlLoadError(f"nesting deeper than {MAX_DEPTH} levels", chunk.first_line + 1)
    except Exception as exc:  # a parser defect must cost this document only, never the run (tests assert none)
        yield YamlLoadError(f"{INTERNAL_PREFIX} ({type(exc).__name__}: {_one_line(str(exc))[:200]})",
                            chunk.first_line + 1)
    finally:
        loader.dispose()


def parse_stream(text: str, budget: NodeBudget | None = None) -> Iterator[Document | YamlLoadError | Ignored]:
    """Every non-empty document of a YAML/JSON stream with field positions, or the error that document has.

    An error never ends the stream: the next document is read as if the bad one were not there.
    """
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        yield YamlLoadError(f"file larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
        return
    budget = budget or NodeBudget()
    if budget.run_left <= 0:
        yield YamlLoadError(f"not read: the input expands to more than {budget.per_run:,} nodes in this run")
        return
    budget.start_file()
    for index, chunk in enumerate(split_documents(text)):
        yield from _parse_chunk(chunk, index, budget)
        if budget.file_left <= 0 or budget.run_left <= 0:
            return  # the document that ran out has said so; nothing more of this file is read


def parse_documents(text: str) -> Iterator[Document]:
    """Every non-empty document of a YAML/JSON stream, with field positions.

    Raises `YamlLoadError` at the first bad document; documents before it have been yielded.
    """
    for item in parse_stream(text):
        if isinstance(item, YamlLoadError):
            raise item
        if isinstance(item, Document):
            yield item
