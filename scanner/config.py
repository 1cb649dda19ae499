"""`.kguard.yaml` at the repository root: which overlays to scan and repository-wide scan settings.

```yaml
overlays: [manifests/overlays/*]   # directories or globs, in order (default: discovered)
exclude: [tests]                   # globs skipped by discovery and the pre-commit hook
podTemplatePaths:                  # custom workload kinds, as --pod-template-path KIND=PATH
  - Workflow=spec.podTemplate
```
"""

from __future__ import annotations

from pathlib import Path

import yaml

from scanner.errors import UsageError
from scanner.load.files import display_path, repo_root

CONFIG_FILE = ".kguard.yaml"
LIST_KEYS = ("overlays", "exclude", "podTemplatePaths")


def read_config(root: Path) -> dict[str, list[str]]:
    """The lists of ``root/.kguard.yaml`` (missing file: no settings); unknown keys or wrong types are errors."""
    config = root / CONFIG_FILE
    if not config.is_file():
        return {}
    shown = display_path(config)
    try:
        spec = yaml.safe_load(config.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"{shown}: cannot read: {exc}") from None
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise UsageError(f"{shown}: expected a mapping with {', '.join(LIST_KEYS)}")
    unknown = sorted(set(spec) - set(LIST_KEYS))
    if unknown:
        raise UsageError(f"{shown}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(LIST_KEYS)})")
    out = {}
    for key, value in spec.items():
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UsageError(f"{shown}: `{key}` must be a list of strings")
        out[key] = value
    return out


def repository_config() -> dict[str, list[str]]:
    """`.kguard.yaml` of the repository the current directory is in (or of the current directory)."""
    return read_config(repo_root(str(Path.cwd())) or Path.cwd())
