"""Finding and reading suite files (`kind: Suite`), and gator's --run filter on test and case names."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanner.errors import UsageError
from scanner.load.files import display_path, load_file

SUITE_GROUP = "test.gatekeeper.sh"
YAML_SUFFIXES = (".yaml", ".yml")


def _yaml_files(directory: Path, recursive: bool) -> list[Path]:
    if not recursive:
        return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in YAML_SUFFIXES)
    found = []
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).parts
        if path.is_file() and path.suffix in YAML_SUFFIXES and not any(p.startswith(".") for p in relative):
            found.append(path)
    return found


def find_suites(targets: Iterable[str]) -> list[tuple[Path, dict[str, Any]]]:
    """Suite files under ``targets`` (a file, a directory, or `DIR/...` for a recursive walk), sorted."""
    suites: dict[Path, dict[str, Any]] = {}
    for target in targets:
        recursive = target.endswith("/...") or target == "..."
        path = Path(target[: -len("...")] or ".") if recursive else Path(target)
        if not path.exists():
            raise UsageError(f"{target}: no such file or directory")
        if path.is_file():
            if recursive:
                raise UsageError(f"{target}: can only recursively traverse directories")
            if path.suffix not in YAML_SUFFIXES:
                raise UsageError(f"{target}: unsupported extension {path.suffix!r} (want .yaml or .yml)")
            files = [path]
        else:
            files = _yaml_files(path, recursive)
        for file in files:
            suite = _read_suite(file)
            if suite is not None:
                suites[file.resolve()] = suite
    return sorted(suites.items())


def _read_suite(file: Path) -> dict[str, Any] | None:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{display_path(file)}: cannot read: {exc}") from None
    if "Suite" not in text:  # cheap pre-check: most YAML files in a tree are not suites
        return None
    loaded = load_file(file)
    if loaded.errors:
        raise UsageError(str(loaded.errors[0]))
    if not loaded.resources:
        return None
    first = loaded.resources[0]
    if first.kind != "Suite" or first.api_version.rpartition("/")[0] != SUITE_GROUP:
        return None
    return first.obj  # like gator, only the first document counts


@dataclass(frozen=True, slots=True)
class Filter:
    """gator's --run filter: "TEST" matches test or case names, "TEST//CASE" both."""

    test: re.Pattern[str] | None = None
    case: re.Pattern[str] | None = None
    either: re.Pattern[str] | None = None

    @classmethod
    def parse(cls, text: str | None) -> Filter:
        if not text:
            return cls()
        parts = text.split("//")
        try:
            if len(parts) == 1:
                return cls(either=re.compile(parts[0]))
            if len(parts) == 2:
                return cls(test=re.compile(parts[0]), case=re.compile(parts[1]))
        except re.error as exc:
            raise UsageError(f"--run {text!r}: invalid regular expression: {exc}") from None
        raise UsageError(f'--run {text!r}: a filter may include at most one "//"')

    def test_selected(self, test: str, cases: list[str]) -> bool:
        if self.either is not None:
            return bool(self.either.search(test)) or any(self.case_selected(test, c) for c in cases)
        return self.test is None or bool(self.test.search(test))

    def case_selected(self, test: str, case: str) -> bool:
        if self.either is not None:
            return bool(self.either.search(case) or self.either.search(test))
        if self.test is None or self.case is None:
            return True
        return bool(self.case.search(case) and self.test.search(test))
