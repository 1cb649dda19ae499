"""Embedded regorus (Microsoft's Rust Rego engine).

Templates that can live side by side (same Rego version, distinct packages, libraries with identical text) share one
engine; regorus parses each module as it is added, so a template that does not compile is reported by name and left
out. All the kinds that judge one input are evaluated in a single query: library rules such as
`lib.workload.containers` are computed once per object instead of once per template. If that combined query fails,
each kind is evaluated on its own, so a runtime error stays with the template that raised it (Gatekeeper isolates
templates the same way).

Templates from elsewhere (--templates, a --policy-dir) are never compiled in the calling process first: a forked
child compiles them template by template under the time limit (a source that hangs or crashes the parser costs only
its template) and then serves as the first evaluation worker. When the library kguard ships (`Template.trusted`,
known to compile) is all there is, no trial is needed: each process compiles a template when it first evaluates it
(a one-file scan compiles only the templates that match something), and small work is evaluated right here
(`in_process`) instead of in a forked worker. Modules are rewritten first so that `not` evaluates its operands the
way OPA does (`regorus_compat`; the library's rewrites are remembered in the user cache), and templates calling
built-ins that reach outside the scan are refused (`backend.forbidden_builtin`).

The shipped library is evaluated on regorus' virtual machine (`regorus_rvm`, 3-4x faster): `prepare` compiles one
program per engine before any evaluation, and the interpreter gets its modules and data.inventory only if a review
has to be evaluated again there (anything the RVM raises, its instruction limit included, or an engine whose
modules the RVM cannot be trusted with).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import regorus

from scanner.engine import isolated
from scanner.engine.backend import EvalFailure, Outcome, Unit, forbidden_builtin, gatekeeper_results
from scanner.engine.catalogue import package_of
from scanner.engine.inputs import evaluations, kinds_at
from scanner.engine.regorus_compat import hoist_negated_operands, hoist_remembered
from scanner.engine.regorus_rvm import Program, for_vm
from scanner.engine.templates import Template

DEFAULT_TIME_LIMIT = 10.0
# A rule of the shipped library that reads only data.inventory and reads its own value back from here when present:
# evaluated once per engine and handed back, instead of once per review (see `_precompute`).
PRECOMPUTED = "kguard.io/precomputed"
_PRECOMPUTED_REF = re.compile(r'data\.inventory\["kguard\.io/precomputed"\]\["([\w.]+)"\]\.([A-Za-z_]\w*)')
# `in_process`: the most work evaluated without a forked worker (and so without --policy-timeout), trusted library only
IN_PROCESS_MAX_EVALUATIONS = 256
IN_PROCESS_MAX_INPUT_BYTES = 256 * 1024
# `prepare`: up to this much data.inventory, the RVM's program computes the precomputed rules (the pre-commit hook in
# a repository: 10 ms less than an interpreter parsing the modules); above it an interpreter does, as regorus' VM
# keeps far more memory for it (50,000 objects, 4 MB of inventory: 86 MB against 33 MB)
VM_PRECOMPUTE_MAX_INVENTORY_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class _Module:
    """A module of an engine: its path and source; the text regorus is given is `text` (`not` rewritten)."""

    path: str
    source: str
    v1: bool = True
    remember: bool = False  # trusted: the rewrite is remembered in the user cache

    def text(self) -> str:
        return _as_opa(self.source, self.v1, self.remember)


@dataclass(slots=True)
class _Shared:
    """One engine holding several templates."""

    engine: Any
    rego_version: str
    packages: set[str] = field(default_factory=set)
    libs: dict[str, str] = field(default_factory=dict)  # lib package -> text
    aggregates: dict[tuple[str, ...], str] = field(default_factory=dict)  # kinds -> rule path
    modules: list[_Module] = field(default_factory=list)  # as added, in order: what the RVM compiles
    precomputed: dict[str, dict[str, Any]] = field(default_factory=dict)  # package -> rule -> value (`_precompute`)
    program: Program | None = None  # the RVM's (`regorus_rvm`), trusted library only
    data_pending: bool = False  # data.inventory not given to the interpreter yet (`_interpreter`)
    to_precompute: list[tuple[Template, dict[str, str]]] = field(default_factory=list)  # (template, its libs): the
    # RVM's program computes their rules (`prepare`)
    parsed: int = 0  # how many of ``modules`` the interpreter has parsed (all but while the RVM evaluates)

    def accepts(self, template: Template, libs: dict[str, str]) -> bool:
        return (template.rego_version == self.rego_version
                and template.package not in self.packages and template.package not in self.libs
                and not self.packages & libs.keys()
                and all(self.libs.get(pkg, text) == text for pkg, text in libs.items()))


class RegorusBackend:
    name = "regorus"
    forkable = True

    def __init__(self, *, time_limit: float = DEFAULT_TIME_LIMIT, vm: bool = True) -> None:
        self.time_limit = time_limit  # seconds to compile one template
        self.vm = vm  # evaluate the trusted library with regorus' virtual machine (`regorus_rvm`)
        self._rules: dict[str, str] = {}  # kind -> `data.<package>.violation`
        self._home: dict[str, _Shared] = {}  # kind -> the engine it lives in
        self._shared: list[_Shared] = []
        self._pending: list[Template] = []  # compiled in the trial child (or trusted); compiled here on first use
        self._trusted = False  # every template loaded is `trusted` (no trial child compiled them)
        self._inventory_json: str | None = None
        self._late: dict[str, str] = {}  # kind -> why it failed on first use (never expected: the child compiled it)
        self._host: isolated.Child | None = None  # the trial child, holding every template compiled
        self._vm_prepared = False  # `prepare` ran since the last load

    def set_time_limit(self, seconds: float) -> None:
        self.time_limit = seconds

    def load(self, templates: list[Template], inventory: dict[str, Any]) -> dict[str, str]:
        """Compile ``templates`` with this ``inventory``; a second call starts afresh (nothing carries over).

        Templates are compiled in a forked child, one at a time under the time limit (`isolated.run_each`): one
        that makes the parser hang or crash is reported by name and the next child carries on. When one child
        compiled them all, it stays (`take_worker`) and evaluates as the runner's first worker, so nothing is
        compiled twice; any other process compiles the templates that compiled there when it first evaluates.
        When every template is `trusted` (kguard's own library), none is compiled now: the process that evaluates
        compiles the templates it needs on first use (a failure then fails those evaluations, by template).
        """
        self.close()
        errors: dict[str, str] = {}
        allowed: list[Template] = []
        for template in templates:
            problem = forbidden_builtin(template)
            if problem is not None:
                errors[template.kind] = problem
            else:
                allowed.append(template)
        self._inventory_json = (json.dumps({"inventory": inventory}) if any(t.uses_inventory for t in allowed)
                                else None)
        if allowed and all(t.trusted for t in allowed):
            self._pending, self._trusted = list(allowed), True
            return errors
        trial, kept = RegorusBackend(), []
        checked = isolated.run_each(allowed, trial._trial, timeout=self.time_limit, linger=trial._linger, keep=kept)
        for template, outcome in zip(allowed, checked, strict=True):
            if isinstance(outcome, isolated.Failed):
                errors[template.kind] = f"does not compile: {outcome.message}"
                continue
            problem, rewritten = outcome
            _REWRITTEN.update(rewritten)  # the rewrites, so that no other process parses for them again
            if problem is not None:
                errors[template.kind] = problem
            else:
                self._pending.append(template)
        self._host = kept[0] if kept else None
        return errors

    def take_worker(self, units: Sequence[Unit]) -> isolated.Child | None:
        """The trial child, given ``units`` and ready to serve as a runner worker; None when there is none."""
        host, self._host = self._host, None
        if host is None:
            return None
        try:
            host.conn.send((self._inventory_json, units))
        except (OSError, ValueError):
            host.stop()
            return None
        return host

    def _trial(self, template: Template) -> tuple[str | None, dict[tuple[str, bool], str]]:
        """Compile ``template`` (in the child): its error or None, and the module rewrites made meanwhile."""
        before = set(_REWRITTEN)
        problem = self._add(template, None)
        return problem, {key: text for key, text in _REWRITTEN.items() if key not in before}

    def _linger(self, conn: Any) -> None:
        """In the trial child after the last template: wait for the inputs, then work for the runner."""
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        inventory_json, units = message
        if inventory_json is not None:
            for shared in self._shared:
                shared.engine.add_data_json(inventory_json)
        from scanner.engine import runner

        runner.serve(conn, self, units)

    def before_fork(self) -> None:
        """Right before the runner forks its workers: compile the trusted library here (and evaluate its
        precomputed rules), so that the workers share one compiled engine, copy-on-write, instead of each
        compiling and precomputing its own. Templates that went through the trial child stay as they are."""
        if self._trusted:
            self._compile_pending()

    def prepare(self, units: Sequence[Unit]) -> None:
        """Before ``units`` are evaluated (in this process or in forked workers): compile the RVM program of each
        engine of the trusted library (`regorus_rvm`), with an entry point for every template those units need and
        for each set of kinds they evaluate together. Once per load; an engine whose modules the RVM cannot be
        trusted with, or that does not compile for it, stays with the interpreter."""
        if not (self.vm and self._trusted) or self._vm_prepared:
            return
        self._vm_prepared = True
        kind_sets = {kinds_at(units, index) for index in range(len(units))}
        self._compile_pending({kind for kinds in kind_sets for kind in kinds})
        for group in sorted({group for kinds in kind_sets for group in self._groups(kinds) if len(group) > 1}):
            self._aggregate(self._home[group[0]], group)
        for shared in self._shared:
            entries = [self._rules[k] for k, home in self._home.items() if home is shared]
            sources = [part for m in shared.modules for part in (m.path, m.source, f"{m.v1:d}{m.remember:d}")]
            wanted = [f"data.{package}.{rule}" for template, _ in shared.to_precompute
                      for package, rule in _precomputed_rules(template)]
            try:
                shared.program = Program(sources, [*entries, *shared.aggregates.values(), *wanted],
                                         self._vm_data(shared),
                                         lambda shared=shared: [(m.path, for_vm(m.text())) for m in shared.modules])
            except (RuntimeError, ValueError):  # a module the RVM cannot be trusted with or that does not compile:
                self._interpreter(shared)      # the interpreter evaluates, and finds which template fails
                continue
            self._precompute_on_vm(shared, shared.program)

    def _precompute_on_vm(self, shared: _Shared, program: Program) -> None:
        """`_precompute` with the RVM's program (the rules are among its entry points): nothing is parsed. A rule
        the VM fails on is computed by an interpreter, as `_precompute` would."""
        if not shared.to_precompute:
            return
        rules = [(template, libs, _precomputed_rules(template)) for template, libs in shared.to_precompute]
        values = program.values_once([f"data.{p}.{r}" for *_, wanted in rules for p, r in wanted],
                                     self._vm_data(shared))
        failed = []
        for template, libs, wanted in rules:
            if not all(f"data.{p}.{r}" in values for p, r in wanted):
                failed.append((template, libs))
                continue
            for package, rule in wanted:
                shared.precomputed.setdefault(package, {})[rule] = values[f"data.{package}.{rule}"]
        shared.to_precompute = failed
        self._precompute_pending(shared)
        program.set_data(self._vm_data(shared))

    def _precompute_pending(self, shared: _Shared) -> None:
        if self._inventory_json is not None:
            for template, libs in shared.to_precompute:
                _precompute(shared, template, libs, self._inventory_json)
        shared.to_precompute = []

    def _vm_data(self, shared: _Shared) -> str:
        """`data` for the RVM: the inventory with the precomputed values `_precompute` gave the engine."""
        if self._inventory_json is None:
            return "{}"
        if not shared.precomputed:
            return self._inventory_json
        inventory = self._inventory_json[:-2]  # `{"inventory": {...}}` without its last two braces
        separator = "" if inventory.rstrip().endswith("{") else ", "
        return f"{inventory}{separator}{json.dumps(PRECOMPUTED)}: {json.dumps(shared.precomputed)}}}}}"

    def in_process(self, units: Sequence[Unit]) -> bool:
        """Whether ``units`` are better evaluated in this process than in a forked worker (`runner.run` asks): only
        for kguard's own library, whose Rego is known, and little work, small enough that the time limit a worker
        enforces is not needed."""
        return (self._trusted and evaluations(units) <= IN_PROCESS_MAX_EVALUATIONS
                and sum(len(text) for _, text in units) <= IN_PROCESS_MAX_INPUT_BYTES)

    def _compile_pending(self, kinds: set[str] | None = None) -> None:
        """Compile here what compiled in the trial child or is trusted (known to be safe to parse): the templates
        of ``kinds``, or all."""
        if kinds is None:
            now, self._pending = self._pending, []
        else:
            now = [t for t in self._pending if t.kind in kinds]
            self._pending = [t for t in self._pending if t.kind not in kinds]
        for template in now:
            problem = self._add(template, self._inventory_json)
            if problem is not None:
                self._late[template.kind] = problem

    def _add(self, template: Template, inventory_json: str | None) -> str | None:
        """Add ``template`` to an engine that can hold it; why it does not compile, or None."""
        try:
            libs = {package_of(lib): lib for lib in template.libs}
        except ValueError as exc:
            return f"does not compile: a lib {exc}"
        shared = next((s for s in self._shared if s.accepts(template, libs)), None)
        if shared is None:
            shared = _Shared(engine=_engine(template.rego_version), rego_version=template.rego_version)
            if inventory_json is not None and self.vm and self._trusted:
                shared.data_pending = True  # the RVM evaluates: the interpreter gets the data if a fallback needs it
            elif inventory_json is not None:
                shared.engine.add_data_json(inventory_json)
            self._shared.append(shared)
        lazy = self.vm and template.trusted and self._trusted  # the RVM evaluates: the interpreter parses on demand
        try:  # regorus parses each module as it is added: an error belongs to this template alone
            v1, remember = template.rego_version == "v1", template.trusted
            new_libs: list[tuple[int, str]] = []  # (module index, lib package)
            for pkg, text in sorted(libs.items()):
                if pkg not in shared.libs:
                    new_libs.append((len(shared.modules), pkg))
                    shared.modules.append(_Module(f"{template.kind}/lib/{pkg}.rego", text, v1, remember))
                    shared.libs[pkg] = text
            shared.modules.append(_Module(f"{template.kind}/template.rego", template.rego or "", v1, remember))
            if not lazy:
                self._parse_modules(shared)
        except (RuntimeError, ValueError) as exc:  # the modules parsed before the failing one stay, as regorus has them
            for index, pkg in new_libs:
                if index >= shared.parsed:
                    del shared.libs[pkg]
            del shared.modules[shared.parsed:]
            return f"does not compile: {_first_line(exc)}"
        shared.packages.add(template.package)
        self._home[template.kind] = shared
        self._rules[template.kind] = f"data.{template.package}.violation"
        if template.trusted and inventory_json is not None:
            if lazy and len(inventory_json) <= VM_PRECOMPUTE_MAX_INVENTORY_BYTES:  # the RVM's program computes
                shared.to_precompute.append((template, libs))  # them without parsing anything (`prepare`)
            else:
                _precompute(shared, template, libs, inventory_json)
        return None

    def evaluate(self, kind: str, inputs: list[str]) -> list[Outcome]:
        self._compile_pending({kind})
        return [self._one(kind, text) for text in inputs]

    def evaluate_units(self, units: list[Unit]) -> list[dict[str, Outcome]]:
        self._compile_pending({kind for kinds, _ in units for kind in kinds})
        results: list[dict[str, Outcome]] = []
        for kinds, text in units:
            result: dict[str, Outcome] = {kind: self._unknown(kind) for kind in kinds if kind not in self._home}
            for group in self._groups(kinds):
                result.update(self._group(group, text))
            results.append(result)
        return results

    def _groups(self, kinds: tuple[str, ...]) -> list[tuple[str, ...]]:
        """The loaded ones of ``kinds`` by the engine they live in, each group sorted: what one query evaluates."""
        by_engine: dict[int, list[str]] = {}
        for kind in kinds:
            if kind in self._home:
                by_engine.setdefault(id(self._home[kind]), []).append(kind)
        return [tuple(sorted(group)) for group in by_engine.values()]

    def _unknown(self, kind: str) -> EvalFailure:
        return EvalFailure(self._late.get(kind, f"template {kind} is not loaded"))

    def _one(self, kind: str, text: str) -> Outcome:
        if kind not in self._home:
            return self._unknown(kind)
        shared = self._home[kind]
        rule = self._rules[kind]
        if shared.program is not None and rule in shared.program.entry_points:
            try:
                return gatekeeper_results(shared.program.evaluate(rule, text))
            except (RuntimeError, ValueError):
                pass  # the interpreter says what failed
        try:
            engine = self._interpreter(shared)
            engine.set_input_json(text)
            return gatekeeper_results(json.loads(engine.eval_rule_as_json(self._rules[kind])))
        except (RuntimeError, ValueError) as exc:
            return EvalFailure(_first_line(exc))

    def _group(self, kinds: tuple[str, ...], text: str) -> dict[str, Outcome]:
        if len(kinds) == 1:
            return {kinds[0]: self._one(kinds[0], text)}
        shared = self._home[kinds[0]]
        try:
            if shared.program is not None and shared.aggregates.get(kinds) in shared.program.entry_points:
                combined = shared.program.evaluate(shared.aggregates[kinds], text)
            else:
                rule = self._aggregate(shared, kinds)
                engine = self._interpreter(shared)
                engine.set_input_json(text)
                combined = json.loads(engine.eval_rule_as_json(rule))
        except (RuntimeError, ValueError):
            return {kind: self._one(kind, text) for kind in kinds}  # find which template failed
        return {kind: gatekeeper_results(combined.get(kind)) for kind in kinds}

    @staticmethod
    def _parse_modules(shared: _Shared) -> None:
        """Give ``shared``'s interpreter the modules it has not parsed yet; raises what regorus raises."""
        while shared.parsed < len(shared.modules):
            module = shared.modules[shared.parsed]
            shared.engine.add_policy(module.path, module.text())
            shared.parsed += 1

    def _interpreter(self, shared: _Shared) -> Any:
        """``shared``'s interpreter, given its modules and data.inventory (and the precomputed values) on first use
        when the RVM evaluates the trusted library: parsing the modules costs the pre-commit hook ~20 ms, and at
        50,000 objects the data are 26 MB that only a fallback from the RVM needs (regorus keeps an engine's data
        alive after it evaluated, even through `clear_data`). A template whose module does not parse is left out,
        and its evaluations fail by name."""
        self._precompute_pending(shared)
        while shared.parsed < len(shared.modules):
            try:
                self._parse_modules(shared)
            except (RuntimeError, ValueError) as exc:
                kind = shared.modules.pop(shared.parsed).path.split("/", 1)[0]
                self._late[kind] = f"does not compile: {_first_line(exc)}"
                self._home.pop(kind, None)
        if shared.data_pending:
            shared.data_pending = False
            if self._inventory_json is not None:
                shared.engine.add_data_json(self._inventory_json)
            if shared.precomputed:
                shared.engine.add_data_json(json.dumps({"inventory": {PRECOMPUTED: shared.precomputed}}))
        return shared.engine

    def _aggregate(self, shared: _Shared, kinds: tuple[str, ...]) -> str:
        """A rule whose value is every kind's `violation` for the current input (built once per kind set)."""
        rule = shared.aggregates.get(kinds)
        if rule is None:
            package = "kguard_aggregate.k" + hashlib.sha256("\n".join(kinds).encode()).hexdigest()[:16]
            body = ",\n".join(f"  {json.dumps(kind)}: {self._rules[kind]}" for kind in kinds)
            shared.modules.append(_Module(f"{package}.rego", f"package {package}\n\nall := {{\n{body}\n}}\n"))
            rule = shared.aggregates[kinds] = f"data.{package}.all"
        return rule

    def close(self) -> None:
        if self._host is not None:
            self._host.stop()
            self._host = None
        self._pending.clear()
        self._trusted = False
        self._vm_prepared = False
        self._late.clear()
        self._inventory_json = None
        self._shared.clear()
        self._home.clear()
        self._rules.clear()


_REWRITTEN: dict[tuple[str, bool], str] = {}  # (module text, v1) -> text for regorus


def _as_opa(text: str, v1: bool, remember: bool = False) -> str:
    """The module rewritten so that regorus evaluates negations as OPA does (see `regorus_compat`); once per
    text and Rego version, and, for a trusted module (``remember``), once per user cache."""
    key = (text, v1)
    rewritten = _REWRITTEN.get(key)
    if rewritten is None:
        rewritten = _REWRITTEN[key] = (hoist_remembered if remember else hoist_negated_operands)(text, v1)
    return rewritten


def _precomputed_rules(template: Template) -> list[tuple[str, str]]:
    """(package, rule) of each rule ``template`` reads back from `data.inventory["kguard.io/precomputed"]`."""
    return sorted({(package, rule) for package, rule in _PRECOMPUTED_REF.findall(template.rego or "")
                   if package == template.package})


def _precompute(shared: _Shared, template: Template, libs: dict[str, str], inventory_json: str) -> None:
    """Evaluate once the rules ``template`` reads back from `data.inventory["kguard.io/precomputed"][<its package>]`
    and put their values there, so that a review reads the value instead of recomputing it.

    Such a rule reads data.inventory only (an index over every namespace's RoleBindings, say): evaluated per
    review it costs time in proportion to the inventory, for every object reviewed. Only kguard's own library
    (`Template.trusted`) gets this, and its tests check that each such rule has the same value whatever the input.
    A rule that cannot be evaluated here is left to each review (slower, same verdicts). Gatekeeper, gator and OPA
    have no such key: the policy computes the rule where it is used. When the engine has no data yet (the RVM
    evaluates, `data_pending`), an engine of the template's own modules computes them and is dropped.
    """
    wanted = _precomputed_rules(template)
    if not wanted:
        return
    engine = shared.engine
    if shared.data_pending or shared.parsed < len(shared.modules):  # the interpreter waits for a fallback
        engine = _engine(template.rego_version)
        v1 = template.rego_version == "v1"
        for pkg, text in sorted(libs.items()):
            engine.add_policy(f"lib/{pkg}.rego", _as_opa(text, v1, True))
        engine.add_policy("template.rego", _as_opa(template.rego or "", v1, True))
        engine.add_data_json(inventory_json)
    for package, rule in wanted:
        try:
            engine.set_input_json("{}")
            value = json.loads(engine.eval_rule_as_json(f"data.{package}.{rule}"))
        except (RuntimeError, ValueError):
            continue
        if not shared.data_pending:  # the interpreter holds the inventory: the value goes beside it
            shared.engine.add_data_json(json.dumps({"inventory": {PRECOMPUTED: {package: {rule: value}}}}))
        shared.precomputed.setdefault(package, {})[rule] = value


def _cidr_overlap(cidr: str, ip: str) -> bool:
    return ipaddress.ip_address(ip) in ipaddress.ip_network(cidr, strict=False)


def _cast(kind: type, name: str) -> Any:
    def cast(value: Any) -> Any:
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise TypeError(f"{name}: operand must be {kind.__name__}")
        return value

    return cast


# Rego v0 built-ins that OPA deprecated and regorus does not have; v0 templates (gatekeeper-library's older ones)
# still call them. `set_diff` and `cast_set` are left out: extension results cannot be Rego sets.
V0_BUILTINS: dict[str, tuple[int, Any]] = {
    "re_match": (2, lambda pattern, value: re.search(pattern, value) is not None),
    "net.cidr_overlap": (2, _cidr_overlap),
    "any": (1, lambda items: any(item is True for item in items)),
    "all": (1, lambda items: all(item is True for item in items)),
    "cast_array": (1, lambda value: list(value) if isinstance(value, set) else _cast(list, "cast_array")(value)),
    "cast_string": (1, _cast(str, "cast_string")),
    "cast_boolean": (1, _cast(bool, "cast_boolean")),
    "cast_object": (1, _cast(dict, "cast_object")),
    "cast_null": (1, lambda value: None if value is None else _cast(type(None), "cast_null")(value)),
}


def _engine(rego_version: str = "v1") -> Any:
    """An engine without regorus' default source limits (1,024 columns per line), which real templates exceed;
    v0 engines also get the deprecated v0 built-ins."""
    engine = regorus.Engine()
    engine.set_policy_length_config(max_col=1_000_000, max_file_bytes=64 * 1024 * 1024, max_lines=1_000_000)
    engine.set_rego_v0(rego_version != "v1")
    if rego_version != "v1":
        for name, (arity, function) in V0_BUILTINS.items():
            engine.add_extension(name, arity, function)
    return engine


def _first_line(exc: Exception) -> str:
    """regorus errors are multi-line (location, source excerpt, `error: ...`, a backtrace): keep what matters."""
    lines = [line.strip() for line in str(exc).split("Stack backtrace:")[0].splitlines() if line.strip()]
    where = next((line[3:].strip() for line in lines if line.startswith("-->")), "")
    error = next((line for line in lines if line.startswith("error:")), lines[0] if lines else type(exc).__name__)
    return f"{error} (at {where})" if where else error
