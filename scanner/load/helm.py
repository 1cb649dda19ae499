"""Helm charts to `Resource` objects with the real `helm template`, each object blamed on its template file.

helm writes a `# Source: <chart>/templates/<file>` line before every document; the document's lines are then
aligned with that template's lines (a rendered line matches a template line with the same text, or the same
key at the same indentation), so a finding points at the template line that emitted the field, else at the
nearest enclosing field that was matched (lines emitted by `include`/`toYaml` blame the key they sit under).

helm runs without network access (as `kubectl kustomize` does): chart dependencies must be vendored. helm follows
symbolic links in a chart, so a chart with a link out of the repository (or into `.git/`) is refused unrendered.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from scanner.load.files import LoadResult, display_path, escaping_link, load_text, repo_root
from scanner.load.kustomize.render import offline_env
from scanner.load.yaml_source import NodeBudget
from scanner.model import FieldPath, InputError, Position, Resource

CHART_FILE = "Chart.yaml"
HELM_TIMEOUT = 120.0
_SOURCE = re.compile(r"^# Source: (\S.*)$")
_KEY = re.compile(r"""^(?:- )*(?:"[^"]*"|'[^']*'|[^\s"'{#:-][^:#{]*?|-[^\s:#{][^:#{]*?):(?=\s|$)""")
_HELM_ERROR_AT = re.compile(r"(?P<file>[\w.-]+/(?:templates|charts)/[^\s:()]+)(?::(?P<line>\d+))?")


@dataclass(frozen=True, slots=True)
class Release:
    """One `helm template` run: the chart directory, release name and namespace, values files in order."""

    chart: Path
    name: str
    namespace: str | None = None
    values: tuple[Path, ...] = ()
    kube_version: str | None = None

    @property
    def label(self) -> str:
        """How reports name it: the chart path, with the values files when there are any."""
        shown = display_path(self.chart)
        if not self.values:
            return shown
        return f"{shown} ({', '.join(display_path(v) for v in self.values)})"


class HelmError(Exception):
    """`helm template` failed; one line, with the template file and line when helm names them."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line


def chart_of(path: Path) -> Path | None:
    """The chart directory ``path`` is (or is inside): the nearest directory with a Chart.yaml, itself included."""
    here = path.resolve()
    for directory in (here, *here.parents) if here.is_dir() else here.parents:
        if (directory / CHART_FILE).is_file():
            return directory
    return None


def helm_binary() -> str | None:
    """The `helm` on PATH, if any."""
    return shutil.which("helm")


def render_release(release: Release) -> str:
    """`helm template` output for ``release``; `HelmError` (one line) when helm fails or is missing."""
    helm = helm_binary()
    if helm is None:
        raise HelmError("helm is not on PATH")
    chart = release.chart.resolve()
    escape = escaping_link(chart, repo_root(str(chart)) or chart)
    if escape is not None:
        raise HelmError(f"not scanned: symbolic link {display_path(escape)} leads outside the repository or into "
                        ".git/ (helm would read what it points at)", display_path(escape))
    command = [helm, "template", release.name, str(release.chart)]
    if release.namespace:
        command += ["--namespace", release.namespace]
    for values in release.values:
        command += ["--values", str(values)]
    if release.kube_version:
        command += ["--kube-version", release.kube_version]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=HELM_TIMEOUT, env=offline_env(),
                              check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise HelmError(f"helm template did not finish within {HELM_TIMEOUT:.0f} s") from None
    except OSError as exc:
        raise HelmError(f"cannot run helm: {exc.strerror or exc}") from None
    if done.returncode != 0:
        raise _helm_error(done.stderr, release.chart)
    return done.stdout


def _helm_error(stderr: str, chart: Path) -> HelmError:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    message = next((line for line in lines if line.startswith("Error")), lines[0] if lines else "failed")
    message = re.sub(r"^Error:\s*", "", message)
    at = _HELM_ERROR_AT.search(message)
    if at is None:
        return HelmError(f"helm template failed: {message}", display_path(chart))
    template = chart.parent / at.group("file")  # helm names files as <chart name>/templates/...
    shown = display_path(chart / Path(*Path(at.group("file")).parts[1:])) if not template.is_file() \
        else display_path(template)
    return HelmError(f"helm template failed: {message}", shown, int(at.group("line")) if at.group("line") else None)


def load_release(release: Release, counts: dict[str, int] | None = None,
                 budget: NodeBudget | None = None) -> LoadResult:
    """Render ``release`` and load every document, blamed on its template file (and line where it aligns).

    ``counts`` numbers the documents of each template file; share it between releases of one chart so that every
    object keeps a distinct (path, document index). One node ``budget`` (by default one for this release) covers
    all of helm's documents, however many a template emits.
    """
    shown = display_path(release.chart)
    try:
        text = render_release(release)
    except HelmError as exc:
        return LoadResult(scanned=[shown], errors=[InputError(path=exc.path or shown, line=exc.line,
                                                              message=str(exc))])
    out = LoadResult(scanned=[display_path(release.chart / CHART_FILE)])
    counts = {} if counts is None else counts
    budget = budget or NodeBudget()
    for source, chunk in _documents(text):
        template = release.chart / Path(*Path(source).parts[1:]) if source else release.chart / CHART_FILE
        where = display_path(template)
        loaded = load_text(chunk, where, origin="helm", budget=budget)
        lines = _template_lines(template)
        mapping = align(chunk.splitlines(), lines) if lines is not None else []
        for resource in loaded.resources:
            resource.doc_index = counts.get(where, 0)
            counts[where] = resource.doc_index + 1
            resource.positions = _remap(resource, mapping, lines or [])
            out.resources.append(resource)
        out.skipped += [s for s in loaded.skipped if "empty" not in s.reason]
        out.errors += [InputError(path=e.path, line=_mapped(mapping, e.line), message=e.message)
                       for e in loaded.errors]
    return out


def _documents(text: str) -> list[tuple[str | None, str]]:
    """(template source, document text) for every document of helm's output, comments kept."""
    out: list[tuple[str | None, str]] = []
    current: list[str] = []

    def flush() -> None:
        body = "\n".join(current)
        if body.strip():
            source = next((m.group(1) for line in current if (m := _SOURCE.match(line))), None)
            out.append((source, body + "\n"))
        current.clear()

    for line in text.splitlines():
        if line.rstrip() == "---" or line.startswith("--- "):
            flush()
            continue
        current.append(line)
    flush()
    return out


def _template_lines(template: Path) -> list[str] | None:
    try:
        return template.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None


def _key(stripped: str) -> str | None:
    match = _KEY.match(stripped)
    return match.group(0) if match else None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def align(rendered: list[str], template: list[str]) -> list[int | None]:
    """For each rendered line (0-based index) the 1-based template line that emitted it, or None.

    A template line matches when its text is the same, or when it has the same key at the same indentation
    (``name: {{ .x }}`` emits ``name: web``). Lines are searched forward from the last match first (documents
    are emitted in order), then from the start (a `range` repeats lines).
    """
    stripped = [line.strip() for line in template]
    keys = [_key(s) for s in stripped]
    out: list[int | None] = []
    cursor = 0
    for line in rendered:
        text = line.strip()
        if not text or text.startswith("#"):
            out.append(None)
            continue
        key, indent = _key(text), _indent(line)

        def matches(i: int, text: str = text, key: str | None = key, indent: int = indent) -> bool:
            if stripped[i] == text:
                return True
            return key is not None and keys[i] == key and _indent(template[i]) == indent

        hit = next((i for i in [*range(cursor, len(template)), *range(0, cursor)] if matches(i)), None)
        if hit is None:
            out.append(None)
            continue
        out.append(hit + 1)
        cursor = hit + 1
    return out


def _mapped(mapping: list[int | None], line: int | None) -> int | None:
    if line is None or not 0 < line <= len(mapping):
        return None
    return mapping[line - 1]


def _remap(resource: Resource, mapping: list[int | None], template: list[str]) -> dict[FieldPath, Position]:
    """The resource's positions moved to the template lines; fields whose line did not align are dropped (a
    finding on them points at the nearest enclosing field that did)."""
    out: dict[FieldPath, Position] = {}
    for path, pos in resource.positions.items():
        line = _mapped(mapping, pos.line)
        if line is None:
            continue
        text = template[line - 1]
        out[path] = Position(line, _indent(text) + 1, line, len(text) + 1)
    if () not in out:
        out[()] = Position(1, 1, 1, 1)
    return out
