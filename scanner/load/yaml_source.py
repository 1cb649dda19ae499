"""Parse YAML/JSON text into plain Python values plus the position of every field.

We compose the YAML node tree (libyaml when available) and build the values ourselves, so every mapping entry and
list item keeps its line and column. Construction is bounded: alias expansion ("billion laughs"), nesting depth and
document size all have explicit limits, and exceeding one is a `YamlLoadError`, never a hang.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from scanner.model import FieldPath, Position

try:  # libyaml is much faster; fall back to the pure-Python loader
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_FILE_BYTES = 32 * 1024 * 1024
MAX_NODES_PER_DOCUMENT = 250_000
MAX_DEPTH = 200

_MERGE_TAG = "tag:yaml.org,2002:merge"
_KEEP_AS_TEXT = {"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:binary"}
_STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"
_constructor = SafeConstructor()


class YamlLoadError(Exception):
    """Unreadable or unsafe YAML; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(slots=True)
class Document:
    value: Any
    positions: dict[FieldPath, Position]
    index: int


def _position(start: Node, end: Node) -> Position:
    return Position(
        start.start_mark.line + 1, start.start_mark.column + 1, end.end_mark.line + 1, end.end_mark.column + 1
    )


class _Builder:
    """Turns one composed document into values + positions, counting every node it visits."""

    def __init__(self) -> None:
        self.positions: dict[FieldPath, Position] = {}
        self.visited = 0

    def build(self, node: Node, path: FieldPath, depth: int) -> Any:
        self.visited += 1
        if self.visited > MAX_NODES_PER_DOCUMENT:
            raise YamlLoadError(
                f"document expands to more than {MAX_NODES_PER_DOCUMENT:,} nodes (alias expansion bomb?)",
                node.start_mark.line + 1,
            )
        if depth > MAX_DEPTH:
            raise YamlLoadError(f"nesting deeper than {MAX_DEPTH} levels", node.start_mark.line + 1)
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        if isinstance(node, SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                child = (*path, index)
                self.positions[child] = _position(item, item)
                items.append(self.build(item, child, depth + 1))
            return items
        if isinstance(node, MappingNode):
            return self._mapping(node, path, depth)
        raise YamlLoadError(f"unsupported YAML node {type(node).__name__}", node.start_mark.line + 1)

    def _mapping(self, node: MappingNode, path: FieldPath, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged = self.build(value_node, path, depth + 1)
                sources = merged if isinstance(merged, list) else [merged]
                for source in sources:
                    if not isinstance(source, dict):
                        raise YamlLoadError("merge key '<<' needs a mapping", key_node.start_mark.line + 1)
                    for k, v in source.items():
                        result.setdefault(k, v)
                continue
            if not isinstance(key_node, ScalarNode):
                raise YamlLoadError("mapping keys must be scalars", key_node.start_mark.line + 1)
            key = self._scalar(key_node)
            key = key if isinstance(key, str) else str(key_node.value)
            child = (*path, key)
            end = value_node if isinstance(value_node, ScalarNode) else key_node
            self.positions[child] = _position(key_node, end)
            result[key] = self.build(value_node, child, depth + 1)
        return result

    @staticmethod
    def _scalar(node: ScalarNode) -> Any:
        tag = node.tag
        if tag == _STR_TAG:
            return node.value
        if tag == _INT_TAG and node.value.isdigit():
            return int(node.value)
        if tag in _KEEP_AS_TEXT:
            if node.tag.endswith("binary"):
                return base64.b64encode(base64.b64decode(node.value)).decode()
            return node.value
        construct = SafeConstructor.yaml_constructors.get(tag)
        if construct is None:
            return node.value  # unknown local tags: keep the text, as a Kubernetes API server would see it
        try:
            return construct(_constructor, node)
        except (ConstructorError, ValueError) as exc:
            raise YamlLoadError(f"bad scalar {node.value!r}: {exc}", node.start_mark.line + 1) from None


def parse_documents(text: str) -> Iterator[Document]:
    """Every non-empty document of a YAML/JSON stream, with field positions.

    Raises `YamlLoadError` for syntax errors or exceeded limits; documents before the error have been yielded.
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise YamlLoadError(f"file larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    loader = _Loader(text)
    index = -1
    try:
        while loader.check_node():
            node = loader.get_node()
            index += 1
            if node is None:
                continue
            if isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null":
                continue
            builder = _Builder()
            value = builder.build(node, (), 0)
            builder.positions[()] = _position(node, node)
            yield Document(value=value, positions=builder.positions, index=index)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(filter(None, [exc.context, exc.problem]))
        raise YamlLoadError(f"invalid YAML: {problem}", line) from None
    except yaml.YAMLError as exc:
        raise YamlLoadError(f"invalid YAML: {exc}") from None
    except RecursionError:
        raise YamlLoadError(f"nesting deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()
