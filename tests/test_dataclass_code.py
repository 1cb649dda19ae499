"""scanner/dataclass_code.py: dataclass methods compiled once per user cache are the very methods `dataclasses`
compiles itself, and a missing, corrupt or foreign cache entry is only a miss."""

import dataclasses
import json
import marshal
import os
import subprocess
import sys
from types import CodeType

import pytest

from scanner import dataclass_code, user_cache

# Imports every kguard module (but the one that runs the CLI), then prints each dataclass method compiled from a
# generated source: its code object's shape, and how many sources this process compiled itself.
_COLLECT = r"""
import importlib, json, pkgutil, sys
from scanner import dataclass_code
if sys.argv[1] == "cached":
    dataclass_code.install()
import scanner
names = sorted(m.name for m in pkgutil.walk_packages(scanner.__path__, "scanner.") if m.name != "scanner.__main__")
for name in names:
    importlib.import_module(name)
methods = {}
for name in names:
    module = sys.modules[name]
    for value in vars(module).values():
        if isinstance(value, type) and value.__module__ == name and "__dataclass_fields__" in vars(value):
            for attr, member in vars(value).items():
                code = getattr(member, "__code__", None)
                if code is not None and code.co_filename == "<string>":
                    methods[f"{name}.{value.__qualname__}.{attr}"] = repr(shape(code))
compiled = dataclass_code.compiled_here()
dataclass_code.uninstall()
dataclass_code.save()
print(json.dumps({"methods": methods, "compiled": compiled}))
"""

_SHAPE = r"""
from types import CodeType
def shape(code):
    return (code.co_code, code.co_name, code.co_qualname, code.co_filename, code.co_firstlineno, code.co_flags,
            code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount, code.co_names, code.co_varnames,
            code.co_freevars, code.co_cellvars, code.co_linetable, code.co_exceptiontable,
            tuple(shape(c) if isinstance(c, CodeType) else (type(c).__name__, repr(c)) for c in code.co_consts))
"""


def _collect(mode: str, cache: str, cwd: str) -> dict:
    env = {**os.environ, "XDG_CACHE_HOME": cache}
    done = subprocess.run([sys.executable, "-c", _SHAPE + _COLLECT, mode], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_cached_methods_are_the_methods_dataclasses_compiles(tmp_path):
    cache, cwd = str(tmp_path / "cache"), tmp_path / "work"
    cwd.mkdir()
    plain = _collect("plain", cache, str(cwd))
    assert not (tmp_path / "cache").exists()  # not installed: nothing is stored
    cold = _collect("cached", cache, str(cwd))
    warm = _collect("cached", cache, str(cwd))
    assert len(plain["methods"]) > 200  # kguard's dataclasses, every generated method
    assert cold["compiled"] > 200  # the first run compiles and stores them...
    assert warm["compiled"] == 0  # ...the next one compiles none of them
    assert cold["methods"] == plain["methods"]
    assert warm["methods"] == plain["methods"]


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """An empty user cache in ``tmp_path`` and dataclass_code's in-memory state reset (and uninstalled after)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")  # the user cache is not used inside the current directory
    for name in ("_cached", "_new"):
        monkeypatch.setattr(dataclass_code, name, {})
    monkeypatch.setattr(dataclass_code, "_used", set())
    monkeypatch.setattr(dataclass_code, "_loaded", False)
    yield
    dataclass_code.uninstall()


def _point(name: str = "Point") -> type:
    return dataclasses.make_dataclass(name, [("x", int), ("y", int, dataclasses.field(default=0))], frozen=True)


def _restart() -> None:
    """As a new process starts: nothing in memory, the user cache kept."""
    dataclass_code._cached.clear()
    dataclass_code._new.clear()
    dataclass_code._used.clear()
    dataclass_code._loaded = False


def test_a_saved_run_lets_the_next_one_compile_nothing(fresh):
    dataclass_code.install()
    cold = _point()
    assert dataclass_code.compiled_here() > 0
    dataclass_code.save()
    assert dataclass_code.compiled_here() == 0
    _restart()
    warm = _point()
    assert dataclass_code.compiled_here() == 0
    dataclass_code.uninstall()
    plain = _point()
    assert "exec" not in vars(dataclasses)
    for method in ("__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__"):
        assert vars(warm)[method].__code__ == vars(plain)[method].__code__ == vars(cold)[method].__code__, method
    assert warm(1, 2) == warm(1, 2) != warm(1) and repr(warm(3)) == "Point(x=3, y=0)"
    with pytest.raises(dataclasses.FrozenInstanceError):
        warm(1).x = 2  # type: ignore[misc]


@pytest.mark.parametrize("stored", [b"not marshal data", marshal.dumps(["a list"]),
                                    marshal.dumps({"def f(): pass": "not code", 3: compile("1", "x", "eval")})])
def test_a_corrupt_or_foreign_entry_is_a_miss(fresh, stored):
    user_cache.put(dataclass_code.NAMESPACE, dataclass_code._entry(), stored)
    dataclass_code.install()
    made = _point()
    assert dataclass_code.compiled_here() > 0
    assert made(1) == made(1, 0)
    dataclass_code.save()  # the entry is replaced by a good one
    _restart()
    _point()
    assert dataclass_code.compiled_here() == 0


def test_past_the_limit_only_the_texts_of_this_run_are_kept(fresh, monkeypatch):
    dataclass_code.install()
    _point("A")
    dataclass_code.save()
    earlier = set(dataclass_code._cached)
    _restart()
    monkeypatch.setattr(dataclass_code, "MAX_TEXTS", 1)
    dataclasses.make_dataclass("B", [("other", str)])
    this_run = set(dataclass_code._used)
    dataclass_code.save()
    kept = marshal.loads(user_cache.get(dataclass_code.NAMESPACE, dataclass_code._entry()) or b"")
    assert kept.keys() == this_run != set() and earlier - this_run  # A's texts were dropped, B's kept
    assert all(type(code) is CodeType for code in kept.values())


def test_only_source_texts_are_looked_up(fresh):
    dataclass_code.install()
    namespace: dict[str, object] = {}
    dataclasses.exec(compile("x = 1", "<string>", "exec"), {}, namespace)  # type: ignore[attr-defined]
    assert namespace == {"x": 1} and dataclass_code.compiled_here() == 0
    dataclasses.exec("y = 2", {}, namespace)  # type: ignore[attr-defined]
    assert namespace["y"] == 2 and dataclass_code.compiled_here() == 1
