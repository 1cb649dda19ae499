"""Report stage: one module per output format, each a pure `render(results) -> str` over `ScanResult`s.

`FORMATS` is the registry the CLI's `--format` chooses from; `write_report_dir` writes every format at once. The
formats whose files grow largest (JSON, SARIF, text, HTML) also have `producer(results)`: a function that hands
the report's text to a write function piece by piece; `produce` gives that to the file writer (`scanner.safe_files`),
so such a report file is never held as one string.
Keyword options (e.g. ``threshold``, the fail threshold the verdict is judged by) reach only the renderers whose
signature names them.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanner.model import ScanResult

if TYPE_CHECKING:
    from scanner.safe_files import Producer

Renderer = Callable[..., str]  # (results, **options) -> text


def _lazy(module: str, function: str) -> Callable[..., Any]:
    """The module's ``function`` of (results, **options), imported on first use (sarif-om and Rich cost tens of ms
    to import), given the options it accepts."""

    def call(results: ScanResult | Sequence[ScanResult], **options: Any) -> Any:
        fn = getattr(importlib.import_module(f"scanner.report.{module}"), function)
        accepted = inspect.signature(fn).parameters
        return fn(results, **{key: value for key, value in options.items() if key in accepted})

    call.__name__ = call.__qualname__ = f"{module}.{function}"
    return call


# formats written piece by piece: format name (or --report-dir file name) -> (results, **options) -> `Producer`
_PRODUCERS: dict[str, Callable[..., Producer]] = {
    "json": _lazy("json_report", "producer"), "kguard.json": _lazy("json_report", "producer"),
    "sarif": _lazy("sarif", "producer"), "kguard.sarif": _lazy("sarif", "producer"),
    "rich": _lazy("rich_report", "producer"), "kguard.txt": _lazy("rich_report", "producer"),
    "html": _lazy("html", "producer"), "kguard.html": _lazy("html", "producer"),
}

FORMATS: dict[str, Renderer] = {
    "rich": _lazy("rich_report", "render"),
    "sarif": _lazy("sarif", "render"),
    "json": _lazy("json_report", "render"),
    "markdown": _lazy("markdown", "render"),
    "html": _lazy("html", "render"),
}

# --report-dir: file name -> renderer
REPORT_FILES: dict[str, Renderer] = {
    "kguard.sarif": _lazy("sarif", "render"),
    "kguard.json": _lazy("json_report", "render"),
    "kguard.txt": _lazy("rich_report", "export_text"),
    "kguard.md": _lazy("markdown", "render"),
    "kguard.html": _lazy("html", "render"),
}


def render(format_name: str, results: ScanResult | Sequence[ScanResult], **options: Any) -> str:
    """Render in the named format; an unknown name is a ValueError listing the choices (never a fallback)."""
    try:
        renderer = FORMATS[format_name]
    except KeyError:
        raise ValueError(f"unknown report format {format_name!r} (choose from {', '.join(FORMATS)})") from None
    return renderer(results, **options)


def produce(format_name: str, results: ScanResult | Sequence[ScanResult], **options: Any) -> str | Producer:
    """What `scanner.safe_files` writes for a report file: a `Producer` for the formats written piece by piece,
    the rendered text for the others (unknown names as `render`)."""
    producer = _PRODUCERS.get(format_name)
    return producer(results, **options) if producer is not None else render(format_name, results, **options)


def write_report_dir(results: ScanResult | Sequence[ScanResult], directory: Path, **options: Any) -> list[Path]:
    """Write kguard.sarif, kguard.json, kguard.txt, kguard.md and kguard.html into ``directory`` (created if needed).

    The SARIF and JSON logs and the HTML page around its data are built (and so checked) before anything is
    written, and serialised as they are written; the text report is written a part at a time and the Markdown
    summary rendered when its file is written, so no report is held whole. Each
    file goes to a temporary file renamed into place when all are complete, all or none (`scanner.safe_files`): a
    symlinked report file or directory is refused, never followed.
    """
    from scanner.safe_files import write_files

    texts = {name: (_PRODUCERS[name](results, **options) if name in _PRODUCERS
                    else _rendered_when_written(renderer, results, options))
             for name, renderer in REPORT_FILES.items()}
    return write_files(directory, texts)


def _rendered_when_written(renderer: Renderer, results: ScanResult | Sequence[ScanResult],
                           options: dict[str, Any]) -> Producer:
    return lambda write: write(renderer(results, **options))
