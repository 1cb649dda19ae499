"""Files, directories and stdin to `Resource` objects; what cannot be scanned is recorded, never dropped."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner.load.yaml_source import Document, YamlLoadError, parse_documents
from scanner.model import InputError, Position, Resource, Skipped

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"


@dataclass(slots=True)
class LoadResult:
    resources: list[Resource] = field(default_factory=list)
    scanned: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)

    def extend(self, other: LoadResult) -> None:
        self.resources.extend(other.resources)
        self.scanned.extend(other.scanned)
        self.skipped.extend(other.skipped)
        self.errors.extend(other.errors)


@functools.cache
def repo_root(start: str) -> Path | None:
    """The git work tree containing ``start`` (a directory), if any."""
    here = Path(start).resolve()
    for parent in (here, *here.parents):
        if (parent / ".git").exists():
            return parent
    return None


def display_path(path: Path | str) -> str:
    """Repository-relative posix path (relative to the git root of the cwd, else to the cwd)."""
    absolute = Path(path).resolve()
    cwd = Path.cwd()
    base = repo_root(str(cwd)) or cwd
    try:
        return absolute.relative_to(base).as_posix()
    except ValueError:
        return Path(os.path.relpath(absolute, cwd)).as_posix()


def resources_from_documents(docs: Iterable[Document], path: str, origin: str, result: LoadResult) -> None:
    """Turn parsed documents into Resources (expanding `kind: List`); record non-Kubernetes documents."""
    for doc in docs:
        value = doc.value
        line = doc.positions[()].line
        if not isinstance(value, dict) or not value.get("apiVersion") or not value.get("kind"):
            result.skipped.append(Skipped(path=path, line=line, reason="not a Kubernetes object (no apiVersion/kind)"))
            continue
        if value["kind"] == "List" or (str(value["kind"]).endswith("List") and isinstance(value.get("items"), list)):
            _expand_list(value, doc, path, origin, result)
            continue
        result.resources.append(Resource(obj=value, path=path, doc_index=doc.index, positions=doc.positions,
                                         origin=origin))


def _expand_list(value: dict[str, Any], doc: Document, path: str, origin: str, result: LoadResult) -> None:
    for i, item in enumerate(value.get("items") or []):
        prefix = ("items", i)
        item_line = doc.positions.get(prefix, Position(1, 1, 1, 1)).line
        if not isinstance(item, dict) or not item.get("apiVersion") or not item.get("kind"):
            result.skipped.append(Skipped(path=path, line=item_line, reason="List item is not a Kubernetes object"))
            continue
        positions = {k[2:]: v for k, v in doc.positions.items() if k[:2] == prefix}
        result.resources.append(Resource(obj=item, path=path, doc_index=doc.index, positions=positions,
                                         origin=origin))


def load_text(text: str, path: str, origin: str = "file") -> LoadResult:
    """Resources of one YAML/JSON stream; a parse error is recorded with the documents before it kept."""
    result = LoadResult(scanned=[path])
    try:
        resources_from_documents(parse_documents(text), path, origin, result)
    except YamlLoadError as exc:
        result.errors.append(InputError(path=path, line=exc.line, message=exc.message))
    return result


def load_file(file: Path) -> LoadResult:
    shown = display_path(file)
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return LoadResult(errors=[InputError(path=shown, message=f"not UTF-8 text: {exc.reason}")])
    except OSError as exc:
        return LoadResult(errors=[InputError(path=shown, message=f"cannot read: {exc.strerror or exc}")])
    return load_text(text, shown)


def _walk(directory: Path, result: LoadResult) -> list[Path]:
    """Manifest files below ``directory``, sorted; Helm charts are recorded as skipped (they need rendering)."""
    files: list[Path] = []
    for root, dirs, names in os.walk(directory):
        root_path = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if "Chart.yaml" in names:
            result.skipped.append(Skipped(
                path=display_path(root_path),
                reason="Helm chart: render it first (`helm template ... | kguard scan -`)",
            ))
            dirs[:] = []
            continue
        files.extend(root_path / n for n in sorted(names) if n.endswith(MANIFEST_SUFFIXES))
    return files


def load_paths(paths: Iterable[str]) -> LoadResult:
    """Load files, directories (walked for .yaml/.yml/.json) and ``-`` (stdin), in the order given."""
    result = LoadResult()
    for raw in paths:
        if raw == STDIN:
            result.extend(load_text(sys.stdin.read(), "<stdin>", origin="stdin"))
            continue
        path = Path(raw)
        if path.is_dir():
            for file in _walk(path, result):
                result.extend(load_file(file))
        elif path.is_file():
            result.extend(load_file(path))
        else:
            result.errors.append(InputError(path=raw, message="no such file or directory"))
    return result
