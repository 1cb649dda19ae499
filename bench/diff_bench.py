"""Benchmark `kguard diff` against a full `kguard scan .` of this repository.

Usage: python bench/diff_bench.py [--base REV] [--repeat 3]
Works on a local clone at HEAD (the working tree is not touched) and times real `kguard` processes (start-up
included), each diff interleaved with a reference `kguard scan .` of the same tree (a busy machine slows both):
- typical: a commit that edits one overlay (production) against HEAD: one unit scanned twice, the rest once;
- all-overlays: a commit that edits the base every environment overlay reads (three units scanned twice);
- worst: a commit that changes a `.kguard.yaml` setting (`failOn`): every unit of both revisions rescanned;
- history (with --base): `kguard diff BASE` with HEAD checked out, as CI runs it.
Ratios are diff time / scan time (target: under 2).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KGUARD = [sys.executable, "-m", "scanner"]


def timed(commands: dict[str, list[str]], cwd: Path, repeat: int) -> dict[str, tuple[list[float], int]]:
    """Each command ``repeat`` times, interleaved (scan, diff, scan, diff, ...): a busy machine slows all alike."""
    out: dict[str, tuple[list[float], int]] = {name: ([], 0) for name in commands}
    for _ in range(repeat):
        for name, args in commands.items():
            started = time.perf_counter()
            code = subprocess.run([*KGUARD, *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  check=False).returncode
            out[name][0].append(time.perf_counter() - started)
            out[name] = (out[name][0], code)
    return out


def summary(name: str, times: list[float], code: int, reference: list[float]) -> dict[str, object]:
    return {f"{name}_seconds_best": round(min(times), 2), f"{name}_seconds_median": round(statistics.median(times), 2),
            f"{name}_exit_code": code, f"{name}_ratio_best": round(min(times) / min(reference), 2),
            f"{name}_ratio_median": round(statistics.median(times) / statistics.median(reference), 2)}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run([shutil.which("git") or "git", "-C", str(cwd), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    result: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        clone = out / "kguard"
        git(REPO, "clone", "--quiet", str(REPO), str(clone))
        git(clone, "config", "user.email", "bench@example.com")
        git(clone, "config", "user.name", "bench")
        head = git(clone, "rev-parse", "HEAD")
        scan = ["scan", ".", "-f", "json", "-o", str(out / "scan.json"), "--quiet"]

        def measure(name: str, base: str) -> None:
            runs = timed({"scan": scan, name: ["diff", base, "-f", "json", "-o", str(out / f"{name}.json")]}, clone,
                         args.repeat)
            units = json.loads((out / f"{name}.json").read_text())["units"]
            result[name] = {"changed_files": len(git(clone, "diff", "--name-only", base).splitlines()),
                            "units": len(units), "units_rescanned": sum(1 for u in units if not u["reused"]),
                            "scan_seconds_median": round(statistics.median(runs["scan"][0]), 2),
                            **summary("diff", *runs[name], runs["scan"][0])}

        if args.base:
            measure("history", git(clone, "rev-parse", args.base))
        overlay = clone / "manifests" / "overlays" / "production" / "kustomization.yaml"
        overlay.write_text(overlay.read_text() + "# benchmark: one overlay changed\n")
        git(clone, "commit", "--quiet", "-am", "bench: touch the production overlay")
        measure("typical", head)
        previous = git(clone, "rev-parse", "HEAD")
        base = clone / "manifests" / "base" / "kustomization.yaml"
        base.write_text(base.read_text() + "# benchmark: every environment overlay changed\n")
        git(clone, "commit", "--quiet", "-am", "bench: touch the base")
        measure("all-overlays", previous)
        previous = git(clone, "rev-parse", "HEAD")
        with (clone / ".kguard.yaml").open("a") as config:
            config.write("failOn: high  # benchmark: a setting changed, every unit rescanned\n")
        git(clone, "commit", "--quiet", "-am", "bench: a .kguard.yaml setting")
        measure("worst", previous)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
