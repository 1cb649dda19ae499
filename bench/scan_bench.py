"""Benchmark `kguard scan`: a ~4,500-object corpus end to end, and a pre-commit-sized run (one file).

Usage: python bench/scan_bench.py [--namespaces 100 --workloads 20 --repeat 3] [--source DIR]
Prints objects/second for the corpus and the wall time of a one-file scan with the full policy set, both measured
as real `kguard` processes (start-up included); ``--source`` runs the kguard of another checkout (before/after on
the same machine). Run it on an otherwise idle machine.
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

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate_corpus import generate

KGUARD = [sys.executable, "-m", "scanner"]


def timed(args: list[str], repeat: int, source: Path | None = None) -> tuple[list[float], int]:
    # `python -m` puts the working directory first on sys.path: run in the checkout, with it on PYTHONPATH too
    env = {**os.environ, "PYTHONPATH": str(source.resolve())} if source else None
    times, code = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        code = subprocess.run([*KGUARD, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
                              env=env, cwd=source).returncode
        times.append(time.perf_counter() - started)
    return times, code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--namespaces", type=int, default=100)
    parser.add_argument("--workloads", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--source", type=Path, help="the checkout whose kguard runs (default: the installed one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        objects = generate(corpus, args.namespaces, args.workloads)
        times, code = timed(["scan", str(corpus), "--format", "json", "--output", str(Path(tmp) / "out.json"),
                             "--quiet"], args.repeat, args.source)
        findings = len(json.loads((Path(tmp) / "out.json").read_text())["findings"])
        best = min(times)
        one_file = sorted(corpus.glob("team-*.yaml"))[0]
        one_file_objects = len([d for d in yaml.safe_load_all(one_file.read_text()) if d])
        small, _ = timed(["scan", str(one_file), "--quiet"], args.repeat + 2, args.source)
    result = {
        "corpus_objects": objects,
        "corpus_findings": findings,
        "corpus_exit_code": code,
        "corpus_seconds_best": round(best, 2),
        "corpus_seconds_median": round(statistics.median(times), 2),
        "objects_per_second": round(objects / best),
        "one_file_objects": one_file_objects,
        "one_file_seconds_best": round(min(small), 3),
        "one_file_seconds_median": round(statistics.median(small), 3),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
