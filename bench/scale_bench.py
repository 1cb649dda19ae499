"""How `kguard scan` scales: wall time and peak memory (PSS summed over kguard and its workers) at several sizes.

Usage: python bench/scale_bench.py [--sizes 1000,5000,20000,50000] [--repeat 1] [--format json|sarif|report-dir]
       [--record FILE] [--source DIR]
Each size is a seeded corpus from `generate_corpus.py` (about 45 objects per namespace, 20 workloads each); the scan
is a real `kguard` process with the full policy set and the analyses on, JSON out (``--format sarif``: SARIF;
``--format report-dir``: every format into a directory, as the CI gate writes them). Memory is sampled every 20 ms
from /proc/<pid>/smaps_rollup of the process and all its descendants (proportional set size: pages shared by forked
workers are counted once in total). ``--source`` runs the kguard of another checkout (e.g. a `git worktree` of the
commit before a change) with this venv, for before/after figures on the same machine. Run it on an otherwise idle
machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate_corpus import generate

KGUARD = [sys.executable, "-m", "scanner"]
OBJECTS_PER_NAMESPACE = 45


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            out.extend(int(p) for p in text)
    except OSError:
        pass
    return out


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo.extend(_children(current))
    return pids


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(args: list[str], source: Path | None = None) -> tuple[float, int, int]:
    """Wall seconds, peak summed PSS (KB) and exit code of one kguard run (of the checkout ``source`` if given)."""
    # `python -m` puts the working directory first on sys.path: run in the checkout, with it on PYTHONPATH too
    env = {**os.environ, "PYTHONPATH": str(source.resolve())} if source else None
    started = time.perf_counter()
    process = subprocess.Popen([*KGUARD, *args], stdout=subprocess.DEVNULL, env=env, cwd=source)
    peak = 0
    while process.poll() is None:
        peak = max(peak, sum(_pss_kb(p) for p in _tree(process.pid)))
        time.sleep(0.02)
    return time.perf_counter() - started, peak, process.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,5000,20000,50000")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--record", type=Path)
    parser.add_argument("--source", type=Path, help="the checkout whose kguard runs (default: the installed one)")
    parser.add_argument("--format", choices=("json", "sarif", "report-dir"), default="json",
                        help="the report written (report-dir: --report-dir, every format, as the CI gate writes them)")
    args = parser.parse_args()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            corpus = Path(tmp) / "corpus"
            objects = generate(corpus, max(1, round(size / OBJECTS_PER_NAMESPACE)), 20)
            out = Path(tmp).resolve() / f"out.{args.format}"
            report_args = ["--report-dir", str(out)] if args.format == "report-dir" else \
                ["--format", args.format, "--output", str(out)]
            runs = [measure(["scan", str(corpus.resolve()), *report_args, "--quiet"], args.source)
                    for _ in range(args.repeat)]
            if args.format == "report-dir":
                out = out / "kguard.json"
            report = json.loads(out.read_text())
            findings = len(report["runs"][0]["results"] if args.format == "sarif" else report["findings"])
        walls = [r[0] for r in runs]
        row = {"objects": objects, "findings": findings, "exit_code": runs[-1][2],
               "seconds_median": round(statistics.median(walls), 2), "seconds_best": round(min(walls), 2),
               "objects_per_second": round(objects / statistics.median(walls)),
               "peak_pss_mb": round(max(r[1] for r in runs) / 1024)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.record:
        args.record.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
