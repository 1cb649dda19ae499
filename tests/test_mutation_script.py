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
        assert all((REPO / file).is_file() for file in script.files_of(module)), module
        assert tests and all((REPO / t.split("::")[0]).is_file() for t in tests), (module, tests)
    assert set(script.CI_SUBSET) <= set(script.MODULES)
    assert set(script.PATHS) <= set(script.MODULES)


def test_a_path_names_only_functions_and_classes_that_exist() -> None:
    script = _script()
    for target, scopes in script.PATHS.items():
        for file, names in scopes.items():
            assert len(script.scope_spans(REPO / file, names)) >= len(names), (target, file)
    with pytest.raises(SystemExit, match=r"no class or function Severity\.nope"):
        script.scope_spans(REPO / "scanner" / "model.py", ("Severity.blocks", "Severity.nope"))


def test_scope_spans_cover_the_named_method_only(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("class A:\n    def f(self):\n        return 1\n\n    def g(self):\n        return 2\n\n\n"
                      "def f():\n    return 3\n")
    assert _script().scope_spans(source, ("A.f",)) == [((2, 0), (3, 16))]
    assert _script().scope_spans(source, ("f", "A")) == [((1, 0), (6, 16)), ((9, 0), (10, 12))]


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
