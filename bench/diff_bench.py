"""Benchmark `kguard diff` against a full `kguard scan .` of this repository.

Usage: python bench/diff_bench.py [--base HEAD~1 --head HEAD --repeat 3]
Works on a local clone (the working tree is not touched) and times real `kguard` processes (start-up included):
- scan: `kguard scan .` at HEAD, the reference;
- diff: `kguard diff BASE` with HEAD checked out, as CI runs it (the working tree is the head; units the change
  does not touch are scanned once);
- diff-commits: `kguard diff BASE HEAD` (both revisions in temporary worktrees);
- diff-worst: a commit that edits `.kguard.yaml` (every unit of both revisions rescanned) against HEAD.
Prints the times and the ratios to the full scan (target: under 2).
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
    parser.add_argument("--base", default="HEAD~1")
    parser.add_argument("--head", default="HEAD")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "kguard"
        git(REPO, "clone", "--quiet", str(REPO), str(clone))
        git(clone, "config", "user.email", "bench@example.com")
        git(clone, "config", "user.name", "bench")
        base, head = git(clone, "rev-parse", args.base), git(clone, "rev-parse", args.head)
        git(clone, "checkout", "--quiet", "--detach", head)
        changed = git(clone, "diff", "--name-only", base, head).splitlines()
        out = Path(tmp)
        first = timed({
            "scan": ["scan", ".", "-f", "json", "-o", str(out / "scan.json"), "--quiet"],
            "diff": ["diff", base, "-f", "json", "-o", str(out / "diff.json")],
            "commits": ["diff", base, head, "-f", "json", "-o", str(out / "commits.json")],
        }, clone, args.repeat)
        units = json.loads((out / "diff.json").read_text())["units"]
        with (clone / ".kguard.yaml").open("a") as config:
            config.write("# benchmark: every unit rescanned\n")
        git(clone, "commit", "--quiet", "-am", "bench: touch .kguard.yaml")
        second = timed({
            "scan": ["scan", ".", "-f", "json", "-o", str(out / "scan2.json"), "--quiet"],
            "worst": ["diff", head, "-f", "json", "-o", str(out / "worst.json")],
        }, clone, args.repeat)
    result: dict[str, object] = {"base": base[:12], "head": head[:12], "changed_files": len(changed),
                                 "units": len(units), "units_rescanned": sum(1 for u in units if not u["reused"])}
    scan = first["scan"][0]
    result |= {"scan_seconds_best": round(min(scan), 2), "scan_seconds_median": round(statistics.median(scan), 2)}
    result |= summary("diff", *first["diff"], scan) | summary("commits", *first["commits"], scan)
    result |= summary("worst", *second["worst"], second["scan"][0])
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
