"""Make regorus evaluate `not` the way OPA does: operands are evaluated before the negation.

OPA's compiler moves the dynamic operands of a negated expression out of it before evaluating (the
`rewriteDynamics` and `rewriteExprTerms` stages): `not f(input.x)` runs as `__local0__ = input.x; not
f(__local0__)`, so when `input.x` is undefined the whole rule body fails. regorus evaluates the negation as a
whole: the call is undefined, so `not` succeeds and the body goes on. A template that relies on OPA's behaviour
(gatekeeper-library's K8sPSPAllowedUsers calls `not accept_value(rule, value, params.ranges)` where `ranges` is
optional) then reports violations under regorus that OPA and Gatekeeper never report.

`hoist_negated_operands` rewrites a module's text the way OPA's compiler rewrites its AST, using regorus' own
parser to find the negated expressions:

- in a call (`f(a)`, `a != b`, `x in xs`, `a + b`...): every argument that is a reference, a call, a comprehension or
  an operator expression is bound to a fresh variable before the `not`; arrays, objects and sets are searched
  element by element;
- in a unification or equality (`a = b`, `a == b`) and in a bare term (`not input.x[k]`): references stay, but the
  dynamic index terms inside them (`input.x[input.k]`) and calls are bound first.

Each new binding gets the negated expression's `with` modifiers, and the rewrite stays on the same line, so error
locations do not move. A body written without braces (`p if not f(x)`) gets braces.

Parsing costs about 1 ms a module; `hoist_remembered` keeps the rewrites of trusted sources (the bundled library,
the same on every run) in the user cache, keyed by the module text, this module's code and the regorus build.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import regorus

from scanner import user_cache

PREFIX = "__kguard_hoisted"
REWRITES = "regorus-rewrites"  # user cache namespace
REWRITE_FORMAT = "kguard negation rewrite 1"
# The rest of the line after `not` in modules that need no parse: a bare variable or reference, `==`/`=` between
# such terms, or a call whose arguments are local variables or scalars (a rule or import name is a reference).
_STRINGS_AND_COMMENTS = re.compile(rb'"(?:[^"\\\n]|\\.)*"|`[^`]*`|#[^\n]*')
_NOT_REST = re.compile(rb"\bnot\b(?=([^\n]*))")  # a lookahead: several `not` on one line are each seen
_TOKEN = rb'(?:[A-Za-z_][\w.]*|""|-?\d[\w.+-]*)'
_ARG = rb'(?:[A-Za-z_]\w*|""|-?\d[\w.+-]*)'
_TRIVIAL_REST = re.compile(rb"^[ \t]+(?:" + _TOKEN + rb"(?:[ \t]*==?[ \t]*" + _TOKEN + rb")?|[A-Za-z_][\w.]*\((?P<args>"
                           + _ARG + rb"(?:[ \t]*,[ \t]*" + _ARG + rb")*)?\))[ \t]*(?:[;}\]].*)?$")
_TOP_NAMES = re.compile(rb"^(?:default[ \t]+)?([A-Za-z_]\w*)|^[ \t]*import[ \t]+[\w.]*?(\w+)(?:[ \t]+as[ \t]+(\w+))?",
                        re.MULTILINE)
_SCALARS = {"Number", "String", "RawString", "Bool", "Null"}
_REFS = {"RefDot", "RefBrack"}
_OPERATORS = {"Call", "UnaryExpr", "ArithExpr", "BinExpr", "BoolExpr", "Membership", "AssignExpr"}
MAX_ROUNDS = 64  # nesting depth of negations inside negated comprehensions; real templates need one or two

Span = tuple[int, int]


def hoist_negated_operands(text: str, rego_v1: bool) -> str:
    """``text`` with the dynamic operands of every negated expression bound before it (see the module docstring).

    A module regorus cannot parse is returned unchanged: adding it reports the error as usual.
    """
    source = text.encode("utf-8")
    if not _needs_parse(source):
        return text  # no negation with operands to move (the common case; parsing costs about 2 ms a module)
    counter = _first_free_index(source)
    for _ in range(MAX_ROUNDS):
        parsed = _parse(source, rego_v1)
        if parsed is None:
            break
        edits, deferred = _edits(source, *parsed, counter)
        for start, end, replacement, used in sorted(edits, reverse=True):
            source = source[:start] + replacement + source[end:]
            counter += used
        if not deferred:  # negations nested in a rewritten one are done in the next round
            break
    return source.decode("utf-8")


def hoist_remembered(text: str, rego_v1: bool) -> str:
    """`hoist_negated_operands` through the user cache: for trusted sources only (an entry is used as policy code),
    whose few texts recur on every run."""
    source = text.encode("utf-8")
    if not _needs_parse(source):
        return text
    entry = user_cache.key(REWRITE_FORMAT, _code_version(), "v1" if rego_v1 else "v0", source)
    cached = user_cache.get(REWRITES, entry)
    if cached is not None:
        return cached.decode("utf-8")
    rewritten = hoist_negated_operands(text, rego_v1)
    user_cache.put(REWRITES, entry, rewritten.encode("utf-8"))
    return rewritten


@functools.cache
def _code_version() -> str:
    """What a rewrite depends on besides the module: this module's code and the regorus build that parses."""
    engine = os.stat(regorus.regorus.__file__)
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest() + f":{engine.st_size}:{engine.st_mtime_ns}"


def _needs_parse(source: bytes) -> bool:
    """False when no negation in ``source`` can have an operand to move (checked on the text, conservatively)."""
    code = _STRINGS_AND_COMMENTS.sub(lambda m: b'""' if m.group(0)[:1] in b'"`' else b"", source)
    if not re.match(rb"\s*package\b", code):  # rules not at column 0: their names are not found below
        return True
    names = {name for m in _TOP_NAMES.finditer(code) for name in m.groups() if name}
    for match in _NOT_REST.finditer(code):
        trivial = _TRIVIAL_REST.match(match.group(1))
        if trivial is None:
            return True
        args = trivial.group("args")
        if args and any(arg.strip() in names for arg in args.split(b",")):
            return True
    return False


def _parse(source: bytes, rego_v1: bool) -> tuple[dict[str, Any], list[tuple[dict[str, Any], dict[str, Any]]]] | None:
    """The module's AST and its negated statements with their queries."""
    return parse_statements(source, rego_v1, lambda s: "NotExpr" in (s.get("literal") or {}))


def parse_statements(source: bytes, rego_v1: bool, wanted: Callable[[dict[str, Any]], bool]
                     ) -> tuple[dict[str, Any], list[tuple[dict[str, Any], dict[str, Any]]]] | None:
    """The module's AST (regorus' own parser) and the statements for which ``wanted`` holds, each with its query
    (gathered while the JSON is decoded); None when regorus cannot parse the module."""
    engine = regorus.Engine()
    engine.set_policy_length_config(max_col=1_000_000, max_file_bytes=64 * 1024 * 1024, max_lines=1_000_000)
    engine.set_rego_v0(not rego_v1)
    found: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def gather(node: dict[str, Any]) -> dict[str, Any]:
        stmts = node.get("stmts")
        if isinstance(stmts, list):
            found.extend((node, s) for s in stmts if isinstance(s, dict) and wanted(s))
        return node

    try:
        engine.add_policy("module.rego", source.decode("utf-8"))
        modules = json.loads(engine.get_ast_as_json(), object_hook=gather)
    except (RuntimeError, ValueError):
        return None
    return (modules[0]["ast"], found) if modules else None


def _first_free_index(source: bytes) -> int:
    used = [int(n) for n in re.findall(rb"\b" + PREFIX.encode() + rb"(\d+)__", source)]
    return max(used, default=0) + 1


def global_names(ast: dict[str, Any], source: bytes) -> set[str]:
    """Rule names and import names: a bare variable with one of these names is a reference in OPA."""
    names: set[str] = set()
    for rule in ast.get("rules") or []:
        spec = next(iter(rule.values()), None) or {}
        head = spec.get("head")
        refr = next(iter(head.values()), {}).get("refr") if isinstance(head, dict) else spec.get("refr")
        while isinstance(refr, dict):
            kind, node = _term(refr)
            if kind == "Var":
                names.add(node["value"])
                break
            refr = node.get("refr")
    for imp in ast.get("imports") or []:
        alias = imp.get("as")
        if isinstance(alias, dict):
            names.add(source[alias["start"]:alias["end"]].decode("utf-8"))
            continue
        kind, node = _term(imp.get("refr") or {"Var": {}})
        if kind == "RefDot":
            names.add(node["field"][1])
    return names


def _edits(source: bytes, ast: dict[str, Any], found: list[tuple[dict[str, Any], dict[str, Any]]],
           counter: int) -> tuple[list[tuple[int, int, bytes, int]], bool]:
    """(start, end, replacement, variables used) for the outermost negated statements that need hoisting, and
    whether a statement inside one of those was left for another round."""
    names = global_names(ast, source)
    edits: list[tuple[int, int, bytes, int]] = []
    taken: list[Span] = []
    deferred = False
    for query, stmt in sorted(found, key=lambda qs: qs[1]["span"]["start"]):
        negated = stmt["literal"]["NotExpr"]
        expr = negated["expr"]
        hoisted: list[Span] = []
        _hoists_in_negated(expr, names, hoisted)
        if not hoisted:
            continue
        start, end = extent(stmt)
        if any(s <= start < e for s, e in taken):
            deferred = True  # inside a statement rewritten in this round: next round
            continue
        taken.append((start, end))
        _, expr_end = extent(negated)
        with_text = source[expr_end:end]
        bindings, rewritten, cursor = [], b"", negated["span"]["start"]
        for index, (h_start, h_end) in enumerate(sorted(hoisted)):
            var = f"{PREFIX}{counter + index}__".encode()
            bindings.append(var + b" := " + source[h_start:h_end] + with_text)
            rewritten += source[cursor:h_start] + var
            cursor = h_end
        rewritten += source[cursor:expr_end]
        replacement = b"; ".join([*bindings, rewritten + with_text])
        if source[query["span"]["start"]:query["span"]["start"] + 1] not in (b"{", b"|"):
            replacement = b"{ " + replacement + b" }"  # `p if not ...`: a body without braces
        edits.append((start, end, replacement, len(hoisted)))
        counter += len(hoisted)
    return edits, deferred


def extent(node: Any) -> Span:
    """The source bytes a node covers: the union of every span in it (regorus' string spans omit the quotes)."""
    low, high = 1 << 62, -1

    def visit(item: Any, kind: str = "") -> None:
        nonlocal low, high
        if isinstance(item, dict):
            if {"start", "end", "line"} <= item.keys():
                quote = 1 if kind in ("String", "RawString") else 0
                low, high = min(low, item["start"] - quote), max(high, item["end"] + quote)
                return
            for key, value in item.items():
                visit(value, key if key in ("String", "RawString") else (kind if key == "span" else ""))
        elif isinstance(item, list):
            for value in item:
                visit(value, kind)

    visit(node)
    return low, high


def _term(node: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    kind, body = next(iter(node.items()))
    return kind, body


def _hoists_in_negated(expr: dict[str, Any], names: set[str], out: list[Span]) -> None:
    kind, body = _term(expr)
    if kind in ("BoolExpr", "AssignExpr") and body.get("op") == "Eq":  # `a == b`, `a = b`: OPA's equality
        for side in (body["lhs"], body["rhs"]):
            _hoists_in_operand(side, names, out)
    elif kind == "Call":
        for arg in body.get("params") or []:
            _hoists_in_value(arg, names, out)
    elif kind == "Membership":
        for arg in (body.get("key"), body.get("value"), body.get("collection")):
            if arg:
                _hoists_in_value(arg, names, out)
    elif kind in ("BoolExpr", "ArithExpr", "BinExpr"):
        for side in (body["lhs"], body["rhs"]):
            _hoists_in_value(side, names, out)
    elif kind == "UnaryExpr":
        _hoists_in_value(body["expr"], names, out)
    else:
        _hoists_in_operand(expr, names, out)


def _hoists_in_operand(node: dict[str, Any], names: set[str], out: list[Span]) -> None:
    """An operand of `=` or a bare term: a reference stays (its dynamic indexes move), calls move."""
    kind, _ = _term(node)
    if kind in _REFS:
        _hoists_in_ref(node, names, out)
    elif kind in _OPERATORS:
        out.append(extent(node))
    elif kind in ("Array", "Set", "Object"):
        _hoists_in_value(node, names, out)


def _hoists_in_ref(node: dict[str, Any], names: set[str], out: list[Span]) -> None:
    kind, body = _term(node)
    if kind == "RefBrack":
        _hoists_in_value(body["index"], names, out)
    if kind in _REFS:
        _hoists_in_ref(body["refr"], names, out)
    elif kind in _OPERATORS:  # `f(x).y`: the call moves
        out.append(extent(node))
    elif kind in ("Array", "Set", "Object"):  # `[input.x][0]`
        _hoists_in_value(node, names, out)


def _hoists_in_value(node: dict[str, Any], names: set[str], out: list[Span]) -> None:
    """A call argument (or an element of one): references, calls and comprehensions move; vars and scalars stay."""
    kind, body = _term(node)
    if kind in _SCALARS:
        return
    if kind == "Var":
        if body["value"] in names:  # a rule or an import: a reference in OPA
            out.append(extent(node))
        return
    if kind in ("Array", "Set"):
        for item in body.get("items") or []:
            _hoists_in_value(item, names, out)
        return
    if kind == "Object":
        for _, key, value in body.get("fields") or []:
            _hoists_in_value(key, names, out)
            _hoists_in_value(value, names, out)
        return
    out.append(extent(node))  # references, calls, operators, comprehensions
