"""YAML source documents with positions: files (parsed once while unchanged) and YAML held inline in a field."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from scanner.load.files import display_path
from scanner.load.yaml_source import YamlLoadError, parse_documents
from scanner.model import FieldPath, Position

Blame = tuple[str, Position]
START = Position(1, 1, 1, 1)
_T = TypeVar("_T")


@dataclass(slots=True)
class SourceDoc:
    """A parsed YAML document; ``line_offset``/``column_offset`` place an inline block scalar inside its file."""

    path: str
    value: Any
    positions: dict[FieldPath, Position]
    line_offset: int = 0
    column_offset: int = 0

    def position(self, path: FieldPath) -> Position | None:
        pos = self.positions.get(path)
        if pos is None:
            return None
        if not self.line_offset and not self.column_offset:
            return pos
        return Position(pos.line + self.line_offset, pos.column + self.column_offset,
                        pos.end_line + self.line_offset, pos.end_column + self.column_offset)

    def blame(self, path: FieldPath) -> Blame | None:
        pos = self.position(path)
        return None if pos is None else (self.path, pos)


def _stamp(file: str) -> tuple[int, int]:
    try:
        stat = os.stat(file)
    except OSError:
        return (0, -1)
    return (stat.st_mtime_ns, stat.st_size)


def _cached_while_unchanged(read: Callable[[str], _T]) -> Callable[[str], _T]:
    """``read(file)``, cached until the file's modification time or size changes."""

    @functools.lru_cache(maxsize=1024)
    def cached(file: str, stamp: tuple[int, int]) -> _T:
        return read(file)

    @functools.wraps(read)
    def wrapper(file: str) -> _T:
        return cached(file, _stamp(file))

    return wrapper


@_cached_while_unchanged
def file_docs(file: str) -> tuple[SourceDoc, ...]:
    """Documents of a YAML file; unreadable files give nothing."""
    path = Path(file)
    try:
        docs = list(parse_documents(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, YamlLoadError):
        return ()
    shown = display_path(path)
    return tuple(SourceDoc(shown, d.value, d.positions) for d in docs)


@_cached_while_unchanged
def file_lines(file: str) -> tuple[str, ...]:
    """Lines of a text file; unreadable files give nothing."""
    try:
        return tuple(Path(file).read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError):
        return ()


def first_mapping(file: str) -> dict[str, Any] | None:
    """The first document of a YAML file when it is a mapping (a kustomization, `.kguard.yaml`)."""
    docs = file_docs(file)
    return docs[0].value if docs and isinstance(docs[0].value, dict) else None


def embedded_docs(owner: Path, owner_doc: SourceDoc, key: FieldPath) -> list[SourceDoc]:
    """YAML held in a string field of ``owner`` (an inline `patch: |`), positioned inside ``owner``."""
    text = value_at(owner_doc.value, key)
    start = owner_doc.positions.get(key)
    if not isinstance(text, str) or start is None:
        return []
    try:
        docs = list(parse_documents(text))
    except YamlLoadError:
        return []
    lines = file_lines(str(owner))
    header = lines[start.line - 1][start.column - 1:] if start.line <= len(lines) else ""
    if isinstance(key[-1], str):  # a mapping entry's position starts at its key
        header = re.sub(r"^[^:]*:\s*", "", header, count=1)
    if header[:1] in ("|", ">"):  # block scalar: content starts on the next line, indented
        body = [ln for ln in lines[start.line:start.end_line] if ln.strip()]
        indent = len(body[0]) - len(body[0].lstrip(" ")) if body else 0
        return [SourceDoc(owner_doc.path, d.value, d.positions, start.line, indent) for d in docs]
    # quoted or plain scalar: we cannot map inner lines exactly, so everything points at the scalar
    return [SourceDoc(owner_doc.path, d.value, dict.fromkeys(d.positions, start)) for d in docs]


def value_at(value: Any, path: FieldPath) -> Any:
    """The value at ``path`` inside ``value``; None when the path does not exist."""
    for key in path:
        in_list = isinstance(key, int) and isinstance(value, list) and 0 <= key < len(value)
        if in_list or (isinstance(key, str) and isinstance(value, dict) and key in value):
            value = value[key]
        else:
            return None
    return value
