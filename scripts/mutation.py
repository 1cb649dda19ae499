#!/usr/bin/env python3
"""Mutation testing (cosmic-ray) of the modules where a wrong answer silently changes a verdict.

    .venv/bin/python scripts/mutation.py [--budget SECONDS] [--sample N] [--min-score PERCENT] [MODULE ...]

Each module is mutated in a throw-away copy of the working tree, or of commit ``--rev`` (cosmic-ray edits files
in place; the tree others work in is never touched) and judged by the tests listed for it below. ``--budget``
bounds the wall-clock time of the whole run (split evenly between the modules); mutants not run by then are counted
as "not run", never as killed. ``--sample N`` runs a fixed random sample (seeded: the same N mutants every time) of
each module's mutants instead of all of them. The score is killed / (killed + survived); every surviving mutant is
printed with its line.
Without MODULE, the small fixed subset CI runs. Exit 1 when ``--min-score`` is given and a module scores below
it, 2 when a module's tests fail before any mutation (nothing would be measured).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
# module -> the tests that specify it (fast ones; cluster tests are deselected).
MODULES: dict[str, tuple[str, ...]] = {
    "scanner/engine/match.py": ("tests/engine/test_match.py",),
    "scanner/model.py": ("tests/test_model.py", "tests/test_suppress.py", "tests/report/test_sarif_regions.py"),
    "scanner/suppress.py": ("tests/test_suppress.py", "tests/test_suppress_contract.py"),
    "scanner/engine/evaluate.py": ("tests/engine/test_evaluate.py",),
    "scanner/load/kustomize/blame.py": ("tests/load/test_kustomize_blame.py", "tests/load/test_kustomize.py"),
    "scanner/report/sarif.py": ("tests/report/test_sarif.py", "tests/report/test_sarif_regions.py"),
    "scanner/workloads.py": ("tests/test_workloads.py",),
    "scanner/analysis/rbac/escalation.py": ("tests/analysis/test_rbac.py",),
    "scanner/analysis/rbac/capabilities.py": ("tests/analysis/test_rbac.py",),
    "scanner/analysis/rbac/graph.py": ("tests/analysis/test_rbac.py",),
    "scanner/analysis/rbac/subjects.py": ("tests/analysis/test_rbac.py",),
    "scanner/analysis/reachability.py": ("tests/analysis/test_reachability.py",),
    "scanner/analysis/posture.py": ("tests/analysis/test_posture.py",),
    "exit-code": ("tests/test_model.py", "tests/test_cli.py"),  # a path (PATHS below)
}
# Targets that are a path through some functions of several modules rather than one whole module:
# target -> {module: qualified names of the classes and functions whose mutants count}.
PATHS: dict[str, dict[str, tuple[str, ...]]] = {
    # what decides the exit code: the severity order and threshold (model), 0/1/2 of one result (model), the
    # worst result, --fail-on and usage/input/internal errors as exit 2 (cli)
    "exit-code": {
        "scanner/model.py": ("Severity", "ScanResult.exit_code"),
        "scanner/cli.py": ("KguardGroup.main", "FailOn", "fail", "_errors_to_exit", "finish", "configured_fail_on",
                           "main"),
    },
}
CI_SUBSET = ("scanner/engine/match.py",)
PER_MUTANT_TIMEOUT = 60.0  # seconds for one test run of one mutant (cosmic-ray counts a timeout as killed)


def copy_tree(destination: Path, rev: str | None) -> None:
    """Tracked and untracked (not ignored) files of the working tree as they are now, or commit ``rev``."""
    if rev is not None:
        archive = subprocess.run(["git", "archive", "--format=tar", rev], cwd=REPO, check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(destination)], input=archive.stdout, check=True)
        return
    listed = subprocess.run(["git", "ls-files", "-z", "-c", "-o", "--exclude-standard"], cwd=REPO, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def test_command(tests: tuple[str, ...]) -> str:
    return f"{PYTHON} -m pytest -x -q -p no:cacheprovider -m 'not cluster' " + " ".join(tests)


def files_of(target: str) -> list[str]:
    """The module files a target mutates: its path's modules, else the target itself."""
    return list(PATHS[target]) if target in PATHS else [target]


def write_config(work: Path, target: str, tests: tuple[str, ...]) -> Path:
    config = work / ".mutation.toml"
    files = files_of(target)
    config.write_text(
        "[cosmic-ray]\n"
        f"module-path = {json.dumps(files[0] if len(files) == 1 else files)}\n"
        f"timeout = {PER_MUTANT_TIMEOUT}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(test_command(tests))}\n"
        "\n[cosmic-ray.distributor]\nname = \"local\"\n")
    return config


def annotation_spans(source: Path) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) (line, column) of every annotation, in a module that never evaluates them
    (`from __future__ import annotations`); none otherwise."""
    tree = ast.parse(source.read_text())
    lazy = any(isinstance(node, ast.ImportFrom) and node.module == "__future__"
               and any(alias.name == "annotations" for alias in node.names) for node in tree.body)
    if not lazy:
        return []
    spans = []
    for node in ast.walk(tree):
        found = [node.returns] if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else []
        if isinstance(node, (ast.arg, ast.AnnAssign)):
            found.append(node.annotation)
        spans += [((a.lineno, a.col_offset), (a.end_lineno or a.lineno, a.end_col_offset or 0)) for a in found if a]
    return spans


def scope_spans(source: Path, names: tuple[str, ...]) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) (line, column) of the classes and functions named (qualified: ``Class.method``)."""
    spans = []
    found = set()

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                if name in names:
                    found.add(name)
                    spans.append(((child.lineno, 0), (child.end_lineno or child.lineno, child.end_col_offset or 0)))
                visit(child, f"{name}.")

    visit(ast.parse(source.read_text()), "")
    if set(names) - found:
        raise SystemExit(f"mutation: {source}: no class or function {', '.join(sorted(set(names) - found))}")
    return spans


def _inside(item: object, spans: dict[str, list]) -> bool:
    """Every mutation of ``item`` lies inside one of the spans of its file."""
    where = [(str(m.module_path), tuple(m.start_pos)) for m in item.mutations]  # type: ignore[attr-defined]
    return bool(where) and all(any(start <= pos < end for start, end in spans.get(file, ())) for file, pos in where)


def skip_where(db: object, items: list, spans: dict[str, list], why: str, *, inside: bool) -> list:
    """Mark the items inside (or outside) ``spans`` (file -> spans) as skipped with ``why``; the other items."""
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    kept = []
    for item in items:
        if _inside(item, spans) == inside:
            db.set_result(item.job_id, WorkResult(output=why, worker_outcome=WorkerOutcome.SKIPPED))  # type: ignore
        else:
            kept.append(item)
    return kept


IN_ANNOTATION = "in an annotation (never evaluated)"
OUTSIDE_PATH = "outside the path"
NOT_SAMPLED = "not in the sample"


def sample(session: Path, size: int | None, seed: int, work: Path, target: str) -> int:
    """Skip mutants inside annotations (and, for a path, outside its functions), then all but a seeded random
    ``size`` of the rest; the number of mutants."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    with use_db(str(session), WorkDB.Mode.open) as db:
        # job ids are random: order by what the mutant is, so a seed always picks the same mutants
        items = sorted(db.pending_work_items, key=lambda item: [
            (str(m.module_path), tuple(m.start_pos), m.operator_name, m.occurrence) for m in item.mutations])
        total = len(items)
        files = files_of(target)
        if target in PATHS:
            scopes = {file: scope_spans(work / file, names) for file, names in PATHS[target].items()}
            items = skip_where(db, items, scopes, OUTSIDE_PATH, inside=False)
        items = skip_where(db, items, {file: annotation_spans(work / file) for file in files}, IN_ANNOTATION,
                           inside=True)
        if size is not None and size < len(items):
            keep = {item.job_id for item in random.Random(seed).sample(items, size)}
            for item in items:
                if item.job_id not in keep:
                    db.set_result(item.job_id, WorkResult(output=NOT_SAMPLED, worker_outcome=WorkerOutcome.SKIPPED))
        return total


def tally(session: Path, total: int) -> dict[str, object]:
    """Counts and surviving mutants of one session."""
    from cosmic_ray.work_db import WorkDB, use_db

    counts = {"killed": 0, "survived": 0, "incompetent": 0, "in_annotations": 0, "outside_path": 0, "sampled_out": 0,
              "not_run": 0}
    survivors = []
    with use_db(str(session), WorkDB.Mode.open) as db:
        done = list(db.completed_work_items)
        counts["not_run"] = len(list(db.pending_work_items))
    for item, result in done:
        if result.worker_outcome == "skipped":
            counts[{NOT_SAMPLED: "sampled_out", OUTSIDE_PATH: "outside_path"}.get(result.output, "in_annotations")] += 1
        elif result.test_outcome == "survived":
            counts["survived"] += 1
            mutation = item.mutations[0]
            changed = [line[1:].strip() for line in (result.diff or "").splitlines()
                       if line.startswith("+") and not line.startswith("+++")]
            survivors.append({"file": str(mutation.module_path), "line": mutation.start_pos[0],
                              "operator": mutation.operator_name, "occurrence": mutation.occurrence,
                              "becomes": changed[0] if changed else ""})
        elif result.test_outcome == "killed":
            counts["killed"] += 1
        else:
            counts["incompetent"] += 1
    judged = counts["killed"] + counts["survived"]
    score = round(100.0 * counts["killed"] / judged, 1) if judged else None
    survivors.sort(key=lambda s: (s["file"], s["line"]))
    return {"mutants": total, **counts, "score": score, "survivors": survivors}


def run_module(work: Path, module: str, budget: float, size: int | None, seed: int) -> dict[str, object]:
    tests = MODULES[module]
    baseline = subprocess.run(test_command(tests), shell=True, cwd=work, capture_output=True, text=True,
                              timeout=max(budget, 60))
    if baseline.returncode != 0:
        tail = (baseline.stdout + baseline.stderr).strip().splitlines()[-3:]
        return {"error": "tests fail before any mutation: " + " / ".join(tail)}
    config = write_config(work, module, tests)
    session = work / f".mutation-{module.replace('/', '_')}.sqlite"
    cosmic = str(Path(PYTHON).parent / "cosmic-ray")
    subprocess.run([cosmic, "init", str(config), str(session)], cwd=work, check=True, capture_output=True)
    total = sample(session, size, seed, work, module)
    worker = subprocess.Popen([cosmic, "exec", str(config), str(session)], cwd=work, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        worker.wait(timeout=budget)
    except subprocess.TimeoutExpired:  # the budget is spent: what ran is counted, the rest is "not run"
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait()
    return tally(session, total)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"modules (or paths: {', '.join(PATHS)}) to mutate (known: "
                                                   f"{', '.join(MODULES)})")
    parser.add_argument("--budget", type=float, default=300.0, help="seconds for the whole run (default 300)")
    parser.add_argument("--sample", type=int, default=None, help="mutants per module (seeded random sample)")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--min-score", type=float, default=None, help="fail below this percentage")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--rev", default=None, help="mutate this commit (e.g. HEAD) instead of the working tree")
    args = parser.parse_args(argv)
    modules = args.modules or list(CI_SUBSET)
    unknown = [m for m in modules if m not in MODULES]
    if unknown:
        print(f"mutation: unknown module(s) {', '.join(unknown)}; known: {', '.join(MODULES)}", file=sys.stderr)
        return 2
    results: dict[str, dict[str, object]] = {}
    deadline = time.monotonic() + args.budget
    with tempfile.TemporaryDirectory(prefix="kguard-mutation-") as tmp:
        work = Path(tmp)
        copy_tree(work, args.rev)
        os.environ.pop("PYTEST_ADDOPTS", None)
        for position, module in enumerate(modules):
            share = max((deadline - time.monotonic()) / (len(modules) - position), 1.0)
            results[module] = run_module(work, module, share, args.sample, args.seed)
            print(summary_line(module, results[module]), flush=True)
            for survivor in results[module].get("survivors", []):  # type: ignore[union-attr]
                where = f"{survivor['file']}:" if module in PATHS else "line "
                print(f"    survived: {where}{survivor['line']} {survivor['operator']}: {survivor['becomes']}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    if any("error" in r for r in results.values()):
        return 2
    low = [m for m, r in results.items() if args.min_score is not None and (r["score"] or 0) < args.min_score]
    return 1 if low else 0


def summary_line(module: str, result: dict[str, object]) -> str:
    if "error" in result:
        return f"{module}: {result['error']}"
    score = "n/a" if result["score"] is None else f"{result['score']}%"
    return (f"{module}: score {score} (killed {result['killed']}, survived {result['survived']}, incompetent "
            f"{result['incompetent']}, not run in the budget {result['not_run']}, in annotations "
            f"{result['in_annotations']}, "
            + (f"outside the path {result['outside_path']}, " if module in PATHS else "")
            + f"outside the sample {result['sampled_out']}, mutants {result['mutants']})")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
