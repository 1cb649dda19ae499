"""scripts/mutation.py: every listed module and test exists, and a real (tiny, sampled) cosmic-ray run scores."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "mutation.py"


def _script():
    spec = importlib.util.spec_from_file_location("mutation_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_listed_module_and_test_exists() -> None:
    script = _script()
    for module, tests in script.MODULES.items():
        assert (REPO / module).is_file(), module
        assert tests and all((REPO / t).is_file() for t in tests), (module, tests)
    assert set(script.CI_SUBSET) <= set(script.MODULES)


def test_an_unknown_module_is_refused() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "scanner/nope.py"], capture_output=True, text=True,
                          cwd=REPO, timeout=60)
    assert done.returncode == 2 and "unknown module(s) scanner/nope.py" in done.stderr


@pytest.mark.integration
def test_a_sampled_run_kills_mutants_of_the_workload_table(tmp_path: Path) -> None:
    out = tmp_path / "mutation.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--budget", "240", "--sample", "3", "--json", str(out),
                           "scanner/workloads.py"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())["scanner/workloads.py"]
    assert result["killed"] + result["survived"] + result["incompetent"] + result["not_run"] == 3
    assert result["sampled_out"] + result["in_annotations"] == result["mutants"] - 3
    assert result["in_annotations"] > 0 and result["sampled_out"] > 0
    assert done.stdout.startswith("scanner/workloads.py: score ")
