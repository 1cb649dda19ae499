"""The local files and directories a kustomization reads (for overlay discovery and the pre-commit hook)."""

from __future__ import annotations

from pathlib import Path

from scanner.load.kustomize.render import kustomization_file
from scanner.load.kustomize.sources import first_mapping

_LISTED = ("resources", "bases", "components", "crds", "configurations", "transformers", "generators", "validators",
           "patchesStrategicMerge")
_PATH_ENTRIES = ("patches", "patchesJson6902", "replacements")


def references(kfile: Path) -> tuple[list[Path], list[Path]]:
    """(directories, files) a kustomization reads directly; remote URLs are left out."""
    spec = first_mapping(str(kfile)) or {}
    entries: list[str] = []
    for key in _LISTED:
        entries += [e for e in spec.get(key) or [] if isinstance(e, str) and "\n" not in e]
    for key in _PATH_ENTRIES:
        entries += [e["path"] for e in spec.get(key) or [] if isinstance(e, dict) and isinstance(e.get("path"), str)]
    for key in ("configMapGenerator", "secretGenerator"):
        for entry in spec.get(key) or []:
            if not isinstance(entry, dict):
                continue
            for f in [*(entry.get("files") or []), *(entry.get("envs") or []), entry.get("env")]:
                if isinstance(f, str):
                    entries.append(f.split("=", 1)[1] if "=" in f else f)
    for chart in spec.get("helmCharts") or []:
        if isinstance(chart, dict) and isinstance(chart.get("valuesFile"), str):
            entries.append(chart["valuesFile"])
    if isinstance((spec.get("openapi") or {}).get("path"), str):
        entries.append(spec["openapi"]["path"])
    dirs, files = [], []
    for entry in entries:
        if "://" in entry or entry.startswith(("github.com/", "git@")):
            continue
        target = (kfile.parent / entry).resolve()
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
        stack.extend(dirs)
    return inputs
