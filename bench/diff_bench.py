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


def timed(args: list[str], cwd: Path, repeat: int) -> tuple[list[float], int]:
    times, code = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        code = subprocess.run([*KGUARD, *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              check=False).returncode
        times.append(time.perf_counter() - started)
    return times, code


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
        scan, scan_code = timed(["scan", ".", "-f", "json", "-o", str(Path(tmp) / "scan.json"), "--quiet"], clone,
                                args.repeat)
        diff, diff_code = timed(["diff", base, "-f", "json", "-o", str(Path(tmp) / "diff.json")], clone,
                                args.repeat)
        units = json.loads((Path(tmp) / "diff.json").read_text())["units"]
        commits, _ = timed(["diff", base, head, "-f", "json", "-o", str(Path(tmp) / "commits.json")], clone,
                           args.repeat)
        with (clone / ".kguard.yaml").open("a") as config:
            config.write("# benchmark: every unit rescanned\n")
        git(clone, "commit", "--quiet", "-am", "bench: touch .kguard.yaml")
        worst, worst_code = timed(["diff", head, "-f", "json", "-o", str(Path(tmp) / "worst.json")], clone,
                                  args.repeat)
    best = min(scan)
    print(json.dumps({
        "base": base[:12], "head": head[:12], "changed_files": len(changed),
        "units": len(units), "units_rescanned": sum(1 for u in units if not u["reused"]),
        "scan_seconds_best": round(best, 2), "scan_seconds_median": round(statistics.median(scan), 2),
        "scan_exit_code": scan_code,
        "diff_seconds_best": round(min(diff), 2), "diff_seconds_median": round(statistics.median(diff), 2),
        "diff_exit_code": diff_code, "diff_ratio": round(min(diff) / best, 2),
        "commits_seconds_best": round(min(commits), 2), "commits_ratio": round(min(commits) / best, 2),
        "worst_seconds_best": round(min(worst), 2), "worst_seconds_median": round(statistics.median(worst), 2),
        "worst_exit_code": worst_code, "worst_ratio": round(min(worst) / best, 2),
    }, indent=2))


if __name__ == "__main__":
    main()
