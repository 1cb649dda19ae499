"""Files, directories and stdin to `Resource` objects; what cannot be scanned is recorded, never dropped.

Only regular files are read (a pipe or device named ``x.yaml`` is skipped unread), at most `MAX_FILE_BYTES` each;
each bad document is an `InputError` at its own line while the rest of the file and of the run still load;
documents with malformed identity fields are kept out of the resources (see `scanner.load.objects`).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import stat
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner.load import forked
from scanner.load.objects import object_problem
from scanner.load.yaml_source import MAX_FILE_BYTES, Document, Ignored, NodeBudget, YamlLoadError, parse_stream
from scanner.model import FIELD_PATHS, FieldPath, InputError, PathTable, Position, Positions, Resource, Skipped

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
    """Repository-relative posix path (relative to the git root of the cwd, else to the cwd).

    The directories are resolved, the file name is not: a symbolic link is shown as itself, not as its target.
    Bytes of a name that are not UTF-8 are shown as U+FFFD (reports are UTF-8 and could not hold them).
    """
    given = Path(path)
    absolute = given.parent.resolve() / given.name if given.name not in ("", ".", "..") else given.resolve()
    cwd = Path.cwd()
    base = repo_root(str(cwd)) or cwd
    try:
        shown = absolute.relative_to(base).as_posix()
    except ValueError:
        shown = Path(os.path.relpath(absolute, cwd)).as_posix()
    try:
        shown.encode("utf-8")
    except UnicodeEncodeError:
        return shown.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return shown


def _missing(value: Any) -> bool:
    return value is None or value == ""


def _add_object(obj: Any, positions: Mapping[FieldPath, Position], path: str, doc_index: int, origin: str,
                result: LoadResult, what: str) -> bool:
    """Record ``obj`` as a Resource, a Skipped non-object or an InputError for a malformed one."""
    if not isinstance(obj, dict) or _missing(obj.get("apiVersion")) or _missing(obj.get("kind")):
        result.skipped.append(Skipped(path=path, line=positions.get((), Position(1, 1, 1, 1)).line, reason=what))
        return False
    problem = object_problem(obj)
    if problem is not None:
        field_path, message = problem
        where = positions.get(field_path) or positions.get(field_path[:-1]) or positions.get(())
        result.errors.append(InputError(path=path, line=where.line if where else 1, message=message))
        return False
    result.resources.append(Resource(obj=obj, path=path, doc_index=doc_index, positions=positions, origin=origin))
    return True


def resources_from_documents(items: Iterable[Document | YamlLoadError | Ignored], path: str, origin: str,
                             result: LoadResult) -> None:
    """Turn parsed documents into Resources (expanding `kind: List`); record bad and non-Kubernetes documents."""
    for item in items:
        if isinstance(item, YamlLoadError):
            result.errors.append(InputError(path=path, line=item.line, message=item.message))
            continue
        if isinstance(item, Ignored):
            result.skipped.append(Skipped(path=path, line=item.line, reason=item.reason))
            continue
        value = item.value
        if _is_list(value):
            _expand_list(value, item, path, origin, result)
            continue
        _add_object(value, item.positions, path, item.index, origin, result,
                    "not a Kubernetes object (no apiVersion/kind)")


def _is_list(value: Any) -> bool:
    """``kind: List``, or any ``*List`` kind with an ``items`` list (what `kubectl get -o yaml` writes)."""
    if not isinstance(value, dict) or not isinstance(value.get("kind"), str):
        return False
    kind = value["kind"]
    return kind == "List" or (kind.endswith("List") and isinstance(value.get("items"), list)
                              and isinstance(value.get("apiVersion"), str))


def _expand_list(value: dict[str, Any], doc: Document, path: str, origin: str, result: LoadResult) -> None:
    items = value.get("items")
    if items is not None and not isinstance(items, list):
        where = doc.positions.get(("items",), doc.positions[()])
        result.errors.append(InputError(path=path, line=where.line, message="items of a List must be a list"))
        return
    of_item = doc.positions.below(("items",))
    for i, item in enumerate(items or []):
        positions = of_item.get(i) or Positions({})
        _add_object(item, positions, path, doc.index, origin, result, "List item is not a Kubernetes object")


def load_text(text: str, path: str, origin: str = "file", budget: NodeBudget | None = None) -> LoadResult:
    """Resources of one YAML/JSON stream; every bad document is an error of its own, the others still load."""
    result = LoadResult(scanned=[path])
    resources_from_documents(parse_stream(text, budget), path, origin, result)
    return result


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "not a regular file"


def _read_bounded(file: Path) -> bytes:
    """At most MAX_FILE_BYTES + 1 bytes of a regular file; never blocks on pipes or reads devices."""
    fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _NotRegular(_file_kind(info.st_mode))
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(min(info.st_size, MAX_FILE_BYTES) + 1)  # read(n) sets aside n bytes first
            if len(data) > info.st_size:  # the file grew meanwhile
                data += handle.read(MAX_FILE_BYTES + 1 - len(data))
            return data
    finally:
        os.close(fd)


class _NotRegular(Exception):
    pass


def load_file(file: Path, budget: NodeBudget | None = None) -> LoadResult:
    """One manifest file: regular files only (pipes and devices are skipped unread), at most MAX_FILE_BYTES."""
    shown = display_path(file)
    too_big = f"file larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB"
    try:
        info = os.stat(file)
        if not stat.S_ISREG(info.st_mode):
            return LoadResult(skipped=[Skipped(path=shown, reason=f"{_file_kind(info.st_mode)}, not read")])
        if info.st_size > MAX_FILE_BYTES:
            return LoadResult(scanned=[shown], errors=[InputError(path=shown, message=too_big)])
        data = _read_bounded(file)
    except _NotRegular as exc:
        return LoadResult(skipped=[Skipped(path=shown, reason=f"{exc}, not read")])
    except OSError as exc:
        return LoadResult(errors=[InputError(path=shown, message=f"cannot read: {exc.strerror or exc}")])
    if len(data) > MAX_FILE_BYTES:
        return LoadResult(scanned=[shown], errors=[InputError(path=shown, message=too_big)])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return LoadResult(errors=[InputError(path=shown, message=f"not UTF-8 text: {exc.reason}")])
    return load_text(text, shown, budget=budget)


def _link_problem(target: Path, boundary: Path, outside: str) -> str | None:
    """Why a symbolic link to ``target`` is not read: it leads out of ``boundary`` or into a `.git/` directory."""
    if not target.is_relative_to(boundary):
        return outside
    if ".git" in target.relative_to(boundary).parts:
        return "symbolic link into .git/ (repository metadata and credentials), not read"
    return None


def escaping_link(directory: Path, boundary: Path) -> Path | None:
    """The first symbolic link below ``directory`` that leads out of ``boundary`` or into a `.git/` directory, or
    loops; linked directories are searched too, each once (for tools that follow links, as helm does)."""
    seen: set[Path] = set()
    stack = [directory.resolve()]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            entries = sorted(os.scandir(current), key=lambda entry: entry.name)
        except OSError:
            continue  # the tool reports what it cannot read
        for entry in entries:
            path = Path(entry.path)
            if entry.is_symlink():
                try:
                    target = path.resolve()
                except (OSError, RuntimeError):  # a loop
                    return path
                if _link_problem(target, boundary, "outside") is not None:
                    return path
            if entry.is_dir():  # follows links
                stack.append(path.resolve())
    return None


def _walk(directory: Path, result: LoadResult) -> list[Path]:
    """Manifest files below ``directory``, sorted; Helm charts are recorded as skipped (they need rendering)."""
    files, charts = walk_tree(directory, result)
    result.skipped += [Skipped(path=display_path(chart),
                               reason="Helm chart: render it first (`helm template ... | kguard scan -`)")
                       for chart in charts]
    return files


def walk_tree(directory: Path, result: LoadResult,
              skip_dir: Callable[[Path], str | None] | None = None) -> tuple[list[Path], list[Path]]:
    """(manifest files, Helm chart directories) below ``directory``, sorted; a chart is not walked into.

    Hidden directories are not walked; ``skip_dir(path)`` returns why another directory is not walked (recorded
    as skipped), or None. Symbolic links to directories are never followed (no loops, no escaping the tree) and
    symbolic links to files outside the repository (or outside ``directory`` when it is in none) or under `.git/`
    are not read; both are recorded.
    """
    files: list[Path] = []
    charts: list[Path] = []
    repository = repo_root(str(directory.resolve()))
    boundary = repository or directory.resolve()
    outside = f"symbolic link pointing outside the {'repository' if repository else 'scanned directory'}, not read"

    def unreadable(exc: OSError) -> None:
        where = display_path(exc.filename) if exc.filename else display_path(directory)
        result.errors.append(InputError(path=where, message=f"cannot read directory: {exc.strerror or exc}"))

    for root, dirs, names in os.walk(directory, onerror=unreadable):
        root_path = Path(root)
        kept = []
        for name in sorted(d for d in dirs if not d.startswith(".")):
            if (root_path / name).is_symlink():
                result.skipped.append(Skipped(path=display_path(root_path / name),
                                              reason="symbolic link to a directory, not followed"))
            elif skip_dir is not None and (why := skip_dir(root_path / name)) is not None:
                result.skipped.append(Skipped(path=display_path(root_path / name), reason=why))
            else:
                kept.append(name)
        dirs[:] = kept
        if "Chart.yaml" in names:
            charts.append(root_path)
            dirs[:] = []
            continue
        for name in sorted(names):
            file = root_path / name
            if not name.endswith(MANIFEST_SUFFIXES):
                continue
            if file.is_symlink():
                try:
                    target = file.resolve()
                except (OSError, RuntimeError):
                    result.errors.append(InputError(path=display_path(file), message="cannot read: symbolic link loop"))
                    continue
                if (why := _link_problem(target, boundary, outside)) is not None:
                    result.skipped.append(Skipped(path=display_path(file), reason=why))
                    continue
            files.append(file)
    return files, charts


@contextlib.contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """Loading makes trees of new objects and no reference cycles worth collecting: the cycle collector would
    only walk, again and again, every object loaded so far (16 % of loading 20,000 objects). What was loaded is
    then left out of its collections for good (`gc.freeze`; freed by reference counting as ever), or the first
    collection after loading would walk it all (0.4 s at 50,000 objects)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def load_paths(paths: Iterable[str]) -> LoadResult:
    """Load files, directories (walked for .yaml/.yml/.json) and ``-`` (stdin), in the order given.

    One `NodeBudget` covers the whole run, so no input can make the documents held in memory explode. Many
    megabytes of files are parsed on several cores (`scanner.load.forked`), with the same result.
    """
    with _cycle_collector_paused():
        return _load_paths(paths)


Task = LoadResult | Path | str  # what a path gave: notes (walk, missing path), a file to load, stdin's text


def _tasks(paths: Iterable[str]) -> list[Task]:
    """What each given path stands for, in order (stdin is read here, once)."""
    tasks: list[Task] = []
    for raw in paths:
        if raw == STDIN:
            tasks.append(sys.stdin.read(MAX_FILE_BYTES + 1))
            continue
        path = Path(raw)
        try:
            is_dir = stat.S_ISDIR(os.stat(path).st_mode)
        except OSError:
            message = "no such file or directory" if not path.is_symlink() else "broken symbolic link"
            tasks.append(LoadResult(errors=[InputError(path=raw, message=message)]))
            continue
        if is_dir:
            notes = LoadResult()
            tasks += [notes, *_walk(path, notes)]
        else:
            tasks.append(path)
    return tasks


def _load_paths(paths: Iterable[str]) -> LoadResult:
    tasks = _tasks(paths)
    files = [task for task in tasks if isinstance(task, Path)]
    texts = [task for task in tasks if isinstance(task, str)]
    loaded = _load_forked(files, texts) or {}
    budget = NodeBudget()
    result = LoadResult()
    for task in tasks:
        if isinstance(task, LoadResult):
            result.extend(task)
        elif id(task) in loaded:
            result.extend(loaded[id(task)])
        elif isinstance(task, str):
            result.extend(load_text(task, "<stdin>", origin="stdin", budget=budget))
        else:
            result.extend(load_file(task, budget))
    return result


FORK_MIN_BYTES = 1 << 20  # less than a megabyte of files is parsed in one process (a fork costs more than it saves)
MAX_LOAD_PROCESSES = 4


def _load_forked(files: list[Path], texts: list[str]) -> dict[int, LoadResult] | None:
    """{id(file or text): its LoadResult} of every file (and stdin's text), the files parsed in shares on several
    cores; None when that is not worth it or this process cannot fork, and when one budget for the run could
    have read differently.

    Each share, and stdin's text, is parsed against its part of the run's node budget: together they never hold
    more nodes than the run allows, and when none used up its part, one budget would not have run out either (a
    limit met in one document or one file is the same in both), so the results are what one process gives."""
    processes = min(forked.processes_available(), MAX_LOAD_PROCESSES)
    if len(files) < 2 or processes < 2:
        return None
    sizes = _sizes(files)
    if sum(sizes) < FORK_MIN_BYTES:
        return None
    shares = _shares(files, sizes, processes)
    parts = len(shares) + (1 if texts else 0)
    outcome = forked.map_forked(functools.partial(_load_here, parts=parts),
                                functools.partial(_load_in_child, parts=parts, start=len(FIELD_PATHS.paths)), shares)
    if outcome is None:
        return None
    (used_up, results), from_children = outcome
    loaded = dict(zip(map(id, shares[0]), results, strict=True))
    for share, items in zip(shares[1:], from_children, strict=True):
        try:
            spent, results = _from_child(items) if items is not None else _load_here(share, parts=parts)
        except Exception:  # a child's results that do not read back: its share is loaded here
            spent, results = _load_here(share, parts=parts)
        used_up = used_up or spent
        loaded.update(zip(map(id, share), results, strict=True))
    budget = NodeBudget(parts)
    for text in texts:
        loaded[id(text)] = load_text(text, "<stdin>", origin="stdin", budget=budget)
    return None if used_up or budget.used_up() else loaded


def _sizes(files: list[Path]) -> list[int]:
    sizes = []
    for file in files:
        try:
            sizes.append(os.stat(file).st_size)
        except OSError:
            sizes.append(0)
    return sizes


def _shares(files: list[Path], sizes: list[int], count: int) -> list[list[Path]]:
    """``files`` in at most ``count`` runs of about equal size (``sizes``), in order."""
    total, shares, current, filled = sum(sizes) or 1, [], [], 0
    for file, size in zip(files, sizes, strict=True):
        current.append(file)
        filled += size
        if filled * count >= total * (len(shares) + 1) and len(shares) < count - 1:
            shares.append(current)
            current = []
    if current:
        shares.append(current)
    return shares


def _load_here(share: list[Path], *, parts: int) -> tuple[bool, list[LoadResult]]:
    """(whether the share used up its part of the run's budget, the share's results)."""
    budget = NodeBudget(parts)
    results = [load_file(file, budget) for file in share]
    return budget.used_up(), results


def _load_in_child(share: list[Path], *, parts: int, start: int) -> Iterator[tuple[Any, ...]]:
    """`_load_here` in a forked child, in a form that pickles fast, a file at a time: the objects as they are,
    their positions by path number, then whether the budget was used up and the paths numbered since ``start``."""
    budget = NodeBudget(parts)
    for file in share:
        result = load_file(file, budget)
        yield ([(r.obj, r.path, r.doc_index, r.origin, r.positions.numbered())  # type: ignore[attr-defined]
                for r in result.resources], result.scanned, result.skipped, result.errors)
    yield budget.used_up(), FIELD_PATHS.paths[start:], start


def _from_child(items: Iterator[tuple[Any, ...]]) -> tuple[bool, list[LoadResult]]:
    """`_load_in_child`'s items as `_load_here` gives them; the positions keep the child's path numbers (its table
    is filled in once its paths have come)."""
    table, results = PathTable(), []
    for item in items:
        if len(item) == 3:
            used_up, paths, start = item
            table.fill([*FIELD_PATHS.paths[:start], *paths])
            return used_up, results
        resources, scanned, skipped, errors = item
        results.append(LoadResult(resources=[Resource(obj=obj, path=path, doc_index=index, origin=origin,
                                                      positions=Positions.numbered_in(numbered, table))
                                             for obj, path, index, origin, numbered in resources],
                                  scanned=scanned, skipped=skipped, errors=errors))
    raise EOFError("a loading child's results ended early")
