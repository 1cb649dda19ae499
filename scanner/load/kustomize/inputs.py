"""What a kustomization reads: its reference entries (with their lines), the local files and directories they
name, and whether an entry is remote (for discovery, the pre-commit hook and the no-network guard)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanner.load.files import display_path
from scanner.load.kustomize.render import kustomization_file
from scanner.load.kustomize.sources import START, SourceDoc, file_docs
from scanner.load.yaml_source import YamlLoadError, parse_documents
from scanner.model import FieldPath

_LISTED = ("resources", "bases", "components", "crds", "configurations", "transformers", "generators", "validators",
           "patchesStrategicMerge")
_PATH_ENTRIES = ("patches", "patchesJson6902", "replacements")
_GENERATORS = ("configMapGenerator", "secretGenerator")
_LEGACY_HELM = "helmChartInflationGenerator"  # kustomize still reads it, as helmCharts + helmGlobals
_LIST_KEYS = (*_LISTED, *_PATH_ENTRIES, *_GENERATORS, "helmCharts", _LEGACY_HELM)
PLUGIN_LISTS = ("generators", "transformers", "validators")  # entries: a plugin config, inline or in a file

# kustomize fetches these instead of reading a local path: URLs, go-getter (`git::`), `gh:`, scp-like `git@host:`
_REMOTE_PREFIX = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://|[A-Za-z][A-Za-z0-9+.-]*::|gh:|[^/@\s]+@[^/:\s]+:)")
_REMOTE_HOSTS = ("github.com/", "gitlab.com/", "bitbucket.org/", "dev.azure.com/", "ssh.dev.azure.com/")
_REMOTE_QUERY = re.compile(r"\?(?:ref|version|timeout|submodules)=")
_GIT_PATH = re.compile(r"[^/.]\.git(?:/|$)|_git/|[^/.]//")  # repo.git, Azure's _git/, go-getter's dir//subdir


class KustomizationError(Exception):
    """A kustomization file that cannot be read as a kustomization; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True, slots=True)
class Reference:
    """One entry of a kustomization that names something to read; ``value`` as written (without `key=`)."""

    field: str
    value: str
    line: int | None


def read_kustomization(kfile: Path) -> SourceDoc:
    """The kustomization document of ``kfile``; `KustomizationError` when it is not a readable mapping."""
    docs = file_docs(str(kfile))
    if docs and isinstance(docs[0].value, dict):
        return docs[0]
    if docs and docs[0].value is not None:
        raise KustomizationError(f"a kustomization must be a mapping, not {type(docs[0].value).__name__}",
                                 docs[0].positions[()].line)
    try:
        text = kfile.read_text(encoding="utf-8")
        if text.strip():
            list(parse_documents(text))
    except (OSError, UnicodeDecodeError) as exc:
        raise KustomizationError(f"cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    except YamlLoadError as exc:
        raise KustomizationError(exc.message, exc.line) from None
    return SourceDoc(display_path(kfile), {}, {(): START})  # empty: kustomize accepts it


def reference_entries(kfile: Path) -> list[Reference]:
    """Every entry of ``kfile`` that names a file, directory or URL to read (by field, each in file order)."""
    doc = read_kustomization(kfile)
    spec = doc.value
    for key in _LIST_KEYS:
        if spec.get(key) is not None and not isinstance(spec[key], list):
            raise KustomizationError(f"`{key}` must be a list", _line(doc, (key,)))
    return spec_references(spec, lambda path: _line(doc, path))


def spec_references(spec: dict[str, Any], line_of: Callable[[FieldPath], int | None]) -> list[Reference]:
    """The reference entries of a kustomization-shaped mapping; ``line_of`` gives an entry's line."""
    out: list[Reference] = []

    def add(field: str, value: Any, path: FieldPath, key_prefixed: bool = False) -> None:
        if isinstance(value, str) and "\n" not in value:
            out.append(Reference(field, value.split("=", 1)[1] if key_prefixed and "=" in value else value,
                                 line_of(path)))

    def entries(key: str) -> list[Any]:
        value = spec.get(key)
        return value if isinstance(value, list) else []

    for key in _LISTED:
        for i, entry in enumerate(entries(key)):
            add(key, entry, (key, i))
    for key in _PATH_ENTRIES:
        for i, entry in enumerate(entries(key)):
            if isinstance(entry, dict):
                add(f"{key}[{i}].path", entry.get("path"), (key, i, "path"))
    for key in _GENERATORS:
        for i, entry in enumerate(entries(key)):
            if not isinstance(entry, dict):
                continue
            for sub in ("files", "envs"):
                items = entry.get(sub)
                for j, item in enumerate(items if isinstance(items, list) else []):
                    add(f"{key}[{i}].{sub}", item, (key, i, sub, j), key_prefixed=sub == "files")
            add(f"{key}[{i}].env", entry.get("env"), (key, i, "env"))
    for i, chart in enumerate(entries("helmCharts")):
        if isinstance(chart, dict):
            add(f"helmCharts[{i}].valuesFile", chart.get("valuesFile"), ("helmCharts", i, "valuesFile"))
            extra = chart.get("additionalValuesFiles")
            for j, item in enumerate(extra if isinstance(extra, list) else []):
                add(f"helmCharts[{i}].additionalValuesFiles", item, ("helmCharts", i, "additionalValuesFiles", j))
    for i, chart in enumerate(entries(_LEGACY_HELM)):
        if isinstance(chart, dict):
            for sub in ("values", "chartHome", "helmHome"):
                add(f"{_LEGACY_HELM}[{i}].{sub}", chart.get(sub), (_LEGACY_HELM, i, sub))
    if isinstance(spec.get("helmGlobals"), dict):
        for key in ("chartHome", "configHome"):
            add(f"helmGlobals.{key}", spec["helmGlobals"].get(key), ("helmGlobals", key))
    if isinstance(spec.get("openapi"), dict):
        add("openapi.path", spec["openapi"].get("path"), ("openapi", "path"))
    return out


def helm_repositories(kfile: Path) -> list[Reference]:
    """`helmCharts[].repo` entries whose chart is not already under the chart home (kustomize would pull it)."""
    doc = read_kustomization(kfile)
    return spec_repositories(doc.value, kfile.parent, lambda path: _line(doc, path))


def spec_repositories(spec: dict[str, Any], base: Path,
                      line_of: Callable[[FieldPath], int | None]) -> list[Reference]:
    """The chart repositories of a kustomization-shaped mapping whose chart is not vendored (relative to ``base``)."""
    out = []
    for key, i, chart, name, repo, home in _helm_charts(spec):
        if not isinstance(chart.get(repo), str) or not chart[repo]:
            continue
        if not (base / home / str(chart.get(name) or "")).is_dir():
            out.append(Reference(f"{key}[{i}].{repo}", chart[repo], line_of((key, i, repo))))
    return out


def chart_homes(spec: dict[str, Any], base: Path) -> list[Path]:
    """The directories helm reads the charts of a kustomization-shaped mapping from (relative to ``base``)."""
    return list(dict.fromkeys(base / home for *_, home in _helm_charts(spec)))


def _helm_charts(spec: dict[str, Any]) -> list[tuple[str, int, dict[str, Any], str, str, str]]:
    """(field, index, chart, its name field, its repository field, its chart home) of every Helm chart."""
    globals_ = spec.get("helmGlobals") if isinstance(spec.get("helmGlobals"), dict) else {}
    charts = [("helmCharts", i, chart, "name", "repo", globals_.get("chartHome"))
              for i, chart in enumerate(spec.get("helmCharts") or [])]
    charts += [(_LEGACY_HELM, i, chart, "chartName", "chartRepoUrl", chart.get("chartHome"))
               for i, chart in enumerate(spec.get(_LEGACY_HELM) or []) if isinstance(chart, dict)]
    return [(key, i, chart, name, repo, str(home or "charts"))
            for key, i, chart, name, repo, home in charts if isinstance(chart, dict)]


def plugin_config_specs(config: Any) -> dict[str, Any] | None:
    """A builtin generator or transformer config (``apiVersion: builtin``) as the kustomization fields it
    stands for, so its file and repository references are found like the kustomization's own; None otherwise."""
    if not isinstance(config, dict) or not isinstance(config.get("kind"), str):
        return None
    shapes: dict[str, dict[str, Any]] = {
        "ConfigMapGenerator": {"configMapGenerator": [config]},
        "SecretGenerator": {"secretGenerator": [config]},
        "HelmChartInflationGenerator": {"helmCharts": [config], "helmGlobals": config},
        "PatchTransformer": {"patches": [config]},
        "PatchJson6902Transformer": {"patches": [config]},
        "PatchStrategicMergeTransformer": {"patchesStrategicMerge": config.get("paths")},
        "ReplacementTransformer": {"replacements": config.get("replacements")},
    }
    return shapes.get(config["kind"])


def _line(doc: SourceDoc, path: FieldPath) -> int | None:
    pos = doc.position(path)
    return pos.line if pos is not None else None


def is_remote(value: str, base: Path) -> bool:
    """Whether kustomize would fetch ``value`` (a URL, a git repository) rather than read a local path."""
    if _REMOTE_PREFIX.match(value) or value.startswith(_REMOTE_HOSTS) or _REMOTE_QUERY.search(value):
        return True
    first = value.split("/", 1)[0]
    host_like = "/" in value and "." in first.strip(".")
    git_like = bool(_GIT_PATH.search(value))
    return (host_like or git_like) and not (base / value).exists()


def resolved(path: Path) -> Path | None:
    """``path`` with symlinks resolved; None for a symlink loop or an unreadable path."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return None


def references(kfile: Path) -> tuple[list[Path], list[Path]]:
    """(directories, files) a kustomization reads directly; remote entries and unreadable files give nothing."""
    try:
        entries = reference_entries(kfile)
    except KustomizationError:
        return [], []
    dirs, files = [], []
    for entry in entries:
        if is_remote(entry.value, kfile.parent):
            continue
        target = resolved(kfile.parent / entry.value)
        if target is not None:
            (dirs if target.is_dir() else files).append(target)
    return dirs, files


def kustomization_inputs(directory: str | Path) -> set[Path]:
    """Every local file the overlay's render reads (kustomization files, resources, patches, generator sources)."""
    seen: set[Path] = set()
    inputs: set[Path] = set()
    stack = [Path(directory).resolve()]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        kfile = kustomization_file(current)
        if kfile is None:
            continue
        inputs.add(kfile)
        dirs, files = references(kfile)
        inputs.update(files)
        inputs.update(_chart_files(kfile))
        stack.extend(dirs)
    return inputs


def _chart_files(kfile: Path) -> set[Path]:
    """The files under the chart homes of a kustomization's Helm charts (helm reads the whole chart: templates,
    values, helpers), without following links (the guard refuses charts whose links leave the repository)."""
    try:
        spec = read_kustomization(kfile).value
    except KustomizationError:
        return set()
    out: set[Path] = set()
    for home in chart_homes(spec, kfile.parent):
        target = resolved(home)
        if target is None or not target.is_dir():
            continue
        for root, _, names in os.walk(target):
            out.update(Path(root) / name for name in names)
    return out
