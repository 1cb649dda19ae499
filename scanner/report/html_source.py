"""Where a finding's line lives: its source snippet (read only from regular files inside the working tree) and its
URL on the repository host (from the CI environment or from `git`).
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from scanner.report._common import relative_posix_path
from scanner.report.safe import safe_text

CONTEXT_LINES = 3  # lines shown above and below a finding's line
MAX_SPAN = 12  # lines of a multi-line finding shown at most
MAX_FILE_BYTES = 4 * 1024 * 1024  # larger files get no snippet
MAX_LINE_CHARS = 240
_SHA = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")
_SCP_LIKE = re.compile(r"^(?:[A-Za-z0-9._-]+@)?([A-Za-z0-9.-]+):(?!//)([A-Za-z0-9._~/-]+?)(?:\.git)?/?$")
_REPO_PATH = re.compile(r"[A-Za-z0-9._~/-]+")


def read_inside(path: str, root: Path) -> list[str] | None:
    """The lines of ``path`` if it is a regular file inside ``root`` (after resolving every link), else None."""
    relative, inside = relative_posix_path(path, root)
    if not inside or relative in ("", "."):
        return None
    real_root = root.resolve()
    try:
        target = (real_root / relative).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not target.is_relative_to(real_root):
        return None  # a link out of the working tree
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
            return None
        data = handle.read(MAX_FILE_BYTES + 1)
    return data.decode("utf-8", errors="replace").split("\n")


def line_ranges(wanted: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merged, sorted 1-based inclusive ranges: each (line, end_line) widened by the context lines."""
    spans = sorted((max(1, line - CONTEXT_LINES), max(line, min(end, line + MAX_SPAN)) + CONTEXT_LINES)
                   for line, end in wanted)
    merged: list[tuple[int, int]] = []
    for first, last in spans:
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def snippets(wanted: Mapping[str, Iterable[tuple[int, int]]], root: Path) -> dict[str, list[list[object]]]:
    """For each readable file: ``[[first line number, [line texts...]], ...]``, texts escaped with `safe_text`."""
    out: dict[str, list[list[object]]] = {}
    for path in sorted(wanted):
        lines = read_inside(path, root)
        if lines is None:
            continue
        chunks: list[list[object]] = []
        for first, last in line_ranges(wanted[path]):
            texts = [_shown(text) for text in lines[first - 1:min(last, len(lines))]]
            if texts:
                chunks.append([first, texts])
        if chunks:
            out[path] = chunks
    return out


def _shown(text: str) -> str:
    text = text.rstrip("\r").replace("\t", "    ")
    if len(text) > MAX_LINE_CHARS:
        text = text[:MAX_LINE_CHARS] + "…"
    return safe_text(text)


def web_url(remote: str) -> str | None:
    """``https://host/owner/repo`` for a git remote URL (https or scp-like ssh), credentials dropped; else None."""
    remote = remote.strip()
    match = _SCP_LIKE.match(remote)
    if match and "://" not in remote:
        host, path = match.groups()
    else:
        parts = urlsplit(remote)
        if parts.scheme not in ("https", "http", "ssh", "git") or not parts.hostname:
            return None
        host, path = parts.hostname, parts.path.strip("/").removesuffix(".git")
    path = path.strip("/")
    if not host or not path or not _REPO_PATH.fullmatch(path) or ".." in path.split("/"):
        return None
    return f"https://{host}/{path}"


def blob_base(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> str | None:
    """``<repository web URL>/blob/<commit>`` when a remote and a commit are known, else None.

    GitHub Actions' GITHUB_SERVER_URL, GITHUB_REPOSITORY and GITHUB_SHA win; otherwise `git remote get-url origin`
    and `git rev-parse HEAD` in ``cwd``.
    """
    env = os.environ if environ is None else environ
    server, repo, sha = env.get("GITHUB_SERVER_URL", ""), env.get("GITHUB_REPOSITORY", ""), env.get("GITHUB_SHA", "")
    if server and repo and sha:
        base = web_url(f"{server.rstrip('/')}/{repo}")
        return f"{base}/blob/{sha}" if base and _SHA.fullmatch(sha) else None
    remote = _git(["remote", "get-url", "origin"], cwd)
    commit = _git(["rev-parse", "HEAD"], cwd)
    if not remote or not commit or not _SHA.fullmatch(commit):
        return None
    base = web_url(remote)
    return f"{base}/blob/{commit}" if base else None


def _git(args: list[str], cwd: Path | None) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""
