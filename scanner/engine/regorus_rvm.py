"""regorus' virtual machine (RVM): the shipped library compiled to bytecode, for evaluating many reviews.

regorus has two evaluators: the tree-walking interpreter (`regorus.Engine`, what `regorus_backend` compiles and
checks templates with) and the RVM (`regorus.Program` compiled from the same modules, run by `regorus.Rvm`), which
evaluates kguard's library 3-4x faster. It departs from OPA in two known ways (regorus 0.13.0 and 0.14.1; see
docs/engines.md): `x := e` with `e` undefined binds and carries on instead of failing the body, and an `else` after a
body whose iteration found nothing is skipped. `for_vm` follows every `x := e` statement with `type_name(x)`
(defined exactly when ``x`` is) and refuses modules with a rule of the second kind (their engine stays with the
interpreter). Only kguard's own library (`Template.trusted`) runs here; its verdicts are compared with OPA's, the
interpreter's and gator's in the tests. Anything the RVM raises is evaluated again by the interpreter.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import regorus

from scanner import user_cache
from scanner.engine import regorus_compat
from scanner.engine.regorus_compat import extent, parse_statements

VM_TEXTS = "regorus-rvm-modules"  # user cache namespace
VM_FORMAT = "kguard rvm module 1"
VM_TEXTS_KEPT = 512  # the library's ~50 modules, and the small aggregate modules of the kind sets scans evaluate
PROGRAMS = "regorus-rvm-programs"  # user cache namespace
PROGRAM_FORMAT = "kguard rvm program 2"
PROGRAMS_KEPT = 64  # programs differ by the templates and kind sets a scan needs: at most ~10 MB of them are kept
UNDEFINED = '"<undefined>"'  # what `Rvm.execute_entry_point` returns for an undefined rule


def for_vm(text: str) -> str | None:
    """The module as the RVM is given it, or None when the RVM cannot be trusted with it (see the module
    docstring): `x := e` statements guarded, and None for a rule with an `else` after a body that iterates.
    Remembered in the user cache (only trusted modules come here). A module regorus cannot parse is None."""
    source = text.encode("utf-8")
    entry = user_cache.key(VM_FORMAT, _code_version(), source)
    cached = user_cache.get(VM_TEXTS, entry)
    if cached is not None:
        return cached[1:].decode("utf-8") if cached[:1] == b"+" else None
    rewritten = _for_vm(source)
    user_cache.put(VM_TEXTS, entry, b"-" if rewritten is None else b"+" + rewritten, keep=VM_TEXTS_KEPT)
    return None if rewritten is None else rewritten.decode("utf-8")


def _for_vm(source: bytes) -> bytes | None:
    parsed = parse_statements(source, True, lambda stmt: _assigned_var(stmt) is not None)
    if parsed is None or _else_after_iteration(parsed[0], source):
        return None
    inserts: list[tuple[int, int, bytes]] = []  # (offset, order at that offset, text): nested statements too
    for query, stmt in parsed[1]:
        start, end = extent(stmt)
        inserts.append((end, 0, b"; type_name(" + str(_assigned_var(stmt)).encode() + b")"))
        if source[query["span"]["start"]:query["span"]["start"] + 1] not in (b"{", b"|"):
            inserts += [(start, 0, b"{ "), (end, 1, b" }")]  # `p if x := e`: a body without braces
    for offset, _, text in sorted(inserts, reverse=True):
        source = source[:offset] + text + source[offset:]
    return source


def _else_after_iteration(ast: dict[str, Any], source: bytes) -> bool:
    """Whether a rule has an `else` after a body that may iterate (outside comprehensions): `some`, `every`, or an
    index by a variable that is neither an argument, nor bound earlier in the body by `:=`, nor a rule or import
    name (``_`` included). Deliberately wide: a false alarm only leaves the module to the interpreter."""
    names = regorus_compat.global_names(ast, source) - {"_"}
    for rule in ast.get("rules") or []:
        spec = rule.get("Spec") if isinstance(rule, dict) else None
        bodies = (spec or {}).get("bodies") or []
        if not any(isinstance(body, dict) and body.get("is_else") for body in bodies):
            continue
        head = next(iter((spec.get("head") or {}).values()), {})
        arguments = {arg["Var"]["value"] for arg in head.get("args") or [] if isinstance(arg, dict) and "Var" in arg}
        for body in bodies[:-1]:
            bound = names | arguments
            for stmt in (body.get("query") or {}).get("stmts") or []:
                if _iterates(stmt, bound):
                    return True
                var = _assigned_var(stmt)
                if var is not None:
                    bound.add(var)
    return False


def _iterates(node: Any, bound: set[str]) -> bool:
    if isinstance(node, list):
        return any(_iterates(item, bound) for item in node)
    if not isinstance(node, dict):
        return False
    for key, value in node.items():
        if key in ("SomeIn", "SomeVars", "Every"):
            return True
        if key in ("ArrayCompr", "SetCompr", "ObjectCompr"):
            continue  # a comprehension's iteration is its own
        if key == "RefBrack" and isinstance(value, dict):
            index = (value.get("index") or {}).get("Var")
            if isinstance(index, dict) and index.get("value") not in bound:
                return True
        if _iterates(value, bound):
            return True
    return False


def _assigned_var(stmt: Any) -> str | None:
    """The variable ``x`` of a statement `x := e` (None for any other statement, `_ := e` included)."""
    if not isinstance(stmt, dict):
        return None
    expr = (stmt.get("literal") or {}).get("Expr", {}).get("expr") or {}
    assign = expr.get("AssignExpr") if isinstance(expr, dict) else None
    if not isinstance(assign, dict) or assign.get("op") != "ColEq":
        return None
    var = (assign.get("lhs") or {}).get("Var")
    if not isinstance(var, dict) or var.get("value") in (None, "_"):
        return None
    return str(var["value"])


@functools.cache
def _code_version() -> str:
    """What a cached text or program depends on besides its input: this module, the parsing it borrows from
    `regorus_compat`, and the regorus build."""
    engine = os.stat(regorus.regorus.__file__)
    code = Path(__file__).read_bytes() + Path(regorus_compat.__file__).read_bytes()
    return hashlib.sha256(code).hexdigest() + f":{engine.st_size}:{engine.st_mtime_ns}"


class Program:
    """Modules compiled for the RVM with the given entry points (rule paths), and a VM holding ``data``.

    The compiled program is remembered in the user cache (`Program.serialize_binary`), keyed by ``sources`` (what
    the modules are made from), the entry points, this code and the regorus build: compiling the library costs
    13-35 ms, loading it back under 1 ms, and on a hit the modules are not even made (``modules`` is called only to
    compile), which the pre-commit hook feels on every run. A module ``modules`` gives as None (see `for_vm`) or one
    the RVM does not compile raises ValueError / RuntimeError: the caller's interpreter evaluates instead."""

    def __init__(self, sources: Sequence[str], entry_points: Iterable[str], data_json: str,
                 modules: Callable[[], list[tuple[str, str | None]]]) -> None:
        self.entry_points = frozenset(entry_points)  # what `evaluate` may be asked for (looked up per review)
        self._compiled = _compiled(sources, sorted(self.entry_points), modules)
        self._vm = regorus.Rvm()
        self._vm.load_program(self._compiled)
        self._vm.set_data_json(data_json)

    def set_data(self, data_json: str) -> None:
        """Replace the VM's ``data``."""
        self._vm.set_data_json(data_json)

    def values_once(self, entry_points: Sequence[str], data_json: str) -> dict[str, Any]:
        """The value of each entry point, with no input and ``data``, in a VM of its own that is dropped after (what
        such a run leaves behind, regorus keeps with the VM); an entry point the VM fails on is left out."""
        vm = regorus.Rvm()
        vm.load_program(self._compiled)
        vm.set_data_json(data_json)
        values = {}
        for entry_point in entry_points:
            try:
                value = _execute(vm, entry_point, "{}")
            except (RuntimeError, ValueError):
                continue
            if value is not None:
                values[entry_point] = value
        return values

    def evaluate(self, entry_point: str, input_json: str) -> Any:
        """The value of ``entry_point`` for this input (None when undefined); raises what the VM raises, a panic of
        its Rust code as RuntimeError (pyo3's PanicException is a BaseException) so that the caller falls back."""
        return _execute(self._vm, entry_point, input_json)


def _execute(vm: Any, entry_point: str, input_json: str) -> Any:
    """``vm``'s value of ``entry_point`` for this input (None when undefined), a panic of its Rust code raised as
    RuntimeError."""
    try:
        vm.set_input_json(input_json)
        out = vm.execute_entry_point(entry_point)
    except BaseException as exc:
        if type(exc).__name__ != "PanicException":
            raise
        raise RuntimeError(f"regorus' virtual machine panicked: {exc}") from None
    return None if out == UNDEFINED else json.loads(out)


def _compiled(sources: Sequence[str], entry_points: list[str],
              modules: Callable[[], list[tuple[str, str | None]]]) -> Any:
    entry = user_cache.key(PROGRAM_FORMAT, _code_version(), *entry_points, "\0", *sources)
    cached = user_cache.get(PROGRAMS, entry)
    if cached is not None:
        try:
            program, partial = regorus.Program.deserialize_binary(cached)
            if not partial:
                return program
        except (RuntimeError, ValueError):
            pass  # compiled again below
    made = modules()
    unsuitable = [path for path, text in made if text is None]
    if unsuitable:
        raise ValueError(f"not for regorus' virtual machine: {', '.join(unsuitable)}")
    program = regorus.Program.compile_from_modules("{}", [(path, str(text)) for path, text in made], entry_points)
    user_cache.put(PROGRAMS, entry, bytes(program.serialize_binary()), keep=PROGRAMS_KEPT)
    return program
