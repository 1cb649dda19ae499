"""An OPA server as the Rego backend (the reference implementation), through `opa-python-client`.

Templates are isolated the way Gatekeeper isolates them: a template's package becomes
`kguard.templates.<Kind>`, and its libs' `package lib.x` (with every `data.lib` reference in the template's
modules) move under `kguard.libs.s<N>`, one namespace per distinct lib set (identical lib texts mean identical
code, so templates with the same libs share them). `data.inventory` is written once per load. Inputs are
evaluated in batches: one generated rule evaluates a template's `violation` for each element of `input.batch`
with `with input as`, so one HTTP round trip serves many objects. A runtime error in a batch is retried input by
input to find the failing object; every request has a time limit, after which OPA cancels the query.

Loading: OPA recompiles every module on each policy upload (about 1 s per upload with the full catalogue), so the
server kguard starts is started WITH the modules (one compile); a broken template is found with `opa check`,
reported, and left out. A server given by URL gets the modules through the Policy API, each uploaded once.

Reaching outside: templates calling `backend.FORBIDDEN_BUILTINS` are refused before anything is uploaded; the
server kguard starts also runs with an empty environment, and its modules are compiled by `opa check` against
capabilities without those built-ins (`opa run` takes no capabilities file). A server given by URL is its owner's.

Rego versions: OPA parses every module with one server-wide version. The server kguard starts runs with
`--v0-compatible`, so v0 templates load unchanged, and v1 templates get `import rego.v1` (appended to the package
line, so line numbers stay the same), which makes that module Rego v1. On a server given by URL that runs in the
OPA 1.x default (v1) mode, v0 templates that need v0 syntax cannot load and are reported with that reason.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

from scanner.engine.backend import FORBIDDEN_BUILTINS, EvalFailure, Outcome, forbidden_builtin, gatekeeper_results
from scanner.engine.templates import Template
from scanner.errors import UsageError

ROOT = "kguard"
START_TIMEOUT = 30.0  # seconds for a started server to become healthy (it compiles every module first)
PUSH_TIMEOUT = 120.0  # seconds for one policy or data upload (OPA recompiles all modules on each)
USER_URL_TIMEOUT = 3.0  # seconds a server given with --opa-url has to answer its health check
DEFAULT_TIME_LIMIT = 10.0
UNITS_PER_REQUEST = 64  # inputs per query when several templates judge each input
BATCH_ID = f"{ROOT}/batch.rego"
BATCH_MODULE = f"""package {ROOT}.batch

import rego.v1

results := [_one(input.template, item) | some item in input.batch]

units := [{{t: _one(t, unit.input) | some t in unit.templates}} | some unit in input.units]

_one(template, item) := v if {{
\tv := data.{ROOT}.templates[template].violation with input as item
}} else := null
"""
_PACKAGE_LINE = re.compile(r"^[ \t]*package[ \t]+([A-Za-z0-9_.\[\]\"-]+)[^\n]*", re.MULTILINE)
_REGO_V1_IMPORT = re.compile(r"^\s*import\s+rego\.v1\b", re.MULTILINE)
_V1_SYNTAX_ERRORS = ("`if` keyword is required", "`contains` keyword is required")
Unit = tuple[tuple[str, ...], str]  # (template kinds, one input JSON they all judge), as the runner batches them
_PROBE = f"package {ROOT}.probe\n\np[x] {{ x := 1 }}\n"  # v0-only syntax: only a v0-compatible server takes it


def ident_for(kind: str, taken: set[str]) -> str:
    """A Rego identifier for ``kind``, unique among ``taken`` (which it joins)."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", kind) or "template"
    if not re.match(r"[A-Za-z_]", base):
        base = f"t_{base}"
    ident, n = base, 1
    while ident in taken:
        n += 1
        ident = f"{base}_{n}"
    taken.add(ident)
    return ident


def _rewrite(module: str, package: str, libs_root: str, own_package: str | None, v1: bool) -> str:
    """Move ``module`` to ``package`` and its `data.lib` references to ``libs_root``; v1 gets `import rego.v1`."""
    text = re.sub(r"\bdata\.lib\b", f"data.{libs_root}", module)
    if own_package:
        text = re.sub(rf"\bdata\.{re.escape(own_package)}\b", f"data.{package}", text)
    suffix = " import rego.v1" if v1 and not _REGO_V1_IMPORT.search(module) else ""
    text, count = _PACKAGE_LINE.subn(lambda m: f"package {package}{suffix}", text, count=1)
    if not count:
        raise ValueError("Rego module has no package declaration")
    return text


def rewrite_libs(libs: tuple[str, ...], lib_set: str, v1: bool) -> list[tuple[str, str]]:
    """(policy id, text) of a lib set moved under `kguard.libs.<lib_set>`."""
    libs_root = f"{ROOT}.libs.{lib_set}"
    modules = []
    for index, lib in enumerate(libs):
        match = _PACKAGE_LINE.search(lib)
        if not match:
            raise ValueError(f"lib {index} has no package declaration")
        original = match.group(1)
        if original != "lib" and not original.startswith("lib."):
            raise ValueError(f"lib {index} must be in a package under lib, not {original!r}")
        package = f"{libs_root}{original[3:]}"
        modules.append((f"{ROOT}/libs/{lib_set}/lib{index}.rego", _rewrite(lib, package, libs_root, None, v1)))
    return modules


def rewrite_template(template: Template, ident: str, lib_set: str) -> tuple[str, str]:
    """(policy id, text) of a template's main module moved to `kguard.templates.<ident>`."""
    assert template.rego is not None
    own = _PACKAGE_LINE.search(template.rego)
    package = f"{ROOT}.templates.{ident}"
    text = _rewrite(template.rego, package, f"{ROOT}.libs.{lib_set}", own.group(1) if own else None,
                    template.rego_version == "v1")
    return f"{ROOT}/templates/{ident}.rego", text


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _error_text(body: Any, fallback: str) -> str:
    """One line from an OPA error response: `file:row: code: message` of its first error."""
    if not isinstance(body, dict):
        return fallback
    errors = body.get("errors") or []
    if errors and isinstance(errors[0], dict):
        first = errors[0]
        loc = first.get("location") or {}
        where = f"{loc.get('file')}:{loc.get('row')}: " if loc.get("file") else ""
        message = " ".join(str(first.get("message", "")).split())[:500]
        return f"{where}{first.get('code', 'error')}: {message}".strip()
    return " ".join(str(body.get("message") or fallback).split())[:500]


class _Server:
    """`opa run --server --v0-compatible` on a loopback port, started with a module tree; `stop()` ends it."""

    def __init__(self, binary: str, modules: dict[str, str]) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="kguard-opa-")
        self.workdir = Path(self._dir.name)
        self.binary = binary
        self.log = self.workdir / "opa.log"
        self.port = _free_port()
        _write_tree(self.workdir, modules)
        with self.log.open("ab") as log:  # relative paths, so policy ids (and messages) are `kguard/...`
            self.process = subprocess.Popen(  # an empty environment: `opa.runtime().env` has nothing to give
                [binary, "run", "--server", "--addr", f"127.0.0.1:{self.port}", "--v0-compatible",
                 "--skip-version-check", "--log-level", "error", ROOT],
                cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env={},
            )
        atexit.register(self.stop)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1][:500] if lines else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._dir.cleanup()
        atexit.unregister(self.stop)


def _write_tree(base: Path, modules: dict[str, str]) -> None:
    for policy_id, text in modules.items():
        file = base / policy_id
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text, encoding="utf-8")


@functools.lru_cache(maxsize=4)
def _current_capabilities(binary: str) -> str:
    proc = subprocess.run([binary, "capabilities", "--current"], capture_output=True, text=True,
                          timeout=PUSH_TIMEOUT, check=False, env={})
    try:
        json.loads(proc.stdout)
    except ValueError:
        raise UsageError(f"cannot start opa: `opa capabilities --current` failed: "
                         f"{' '.join((proc.stderr or proc.stdout).split())[:300]}") from None
    return proc.stdout


def restricted_capabilities(binary: str, directory: Path) -> Path:
    """A capabilities file for ``binary`` without `FORBIDDEN_BUILTINS` and with no network host allowed."""
    capabilities = json.loads(_current_capabilities(binary))
    capabilities["builtins"] = [b for b in capabilities.get("builtins") or []
                                if b.get("name") not in FORBIDDEN_BUILTINS]
    capabilities["allow_net"] = []
    path = directory / "capabilities.json"
    path.write_text(json.dumps(capabilities), encoding="utf-8")
    return path


def check_modules(binary: str, modules: dict[str, str], capabilities: Path | None = None) -> dict[str, str]:
    """`opa check --v0-compatible` on ``modules`` (against ``capabilities`` when given): the first error message
    by policy id (empty when clean)."""
    with tempfile.TemporaryDirectory(prefix="kguard-opa-check-") as tmp:
        _write_tree(Path(tmp), modules)
        limits = ["--capabilities", str(capabilities)] if capabilities else []
        proc = subprocess.run([binary, "check", "--v0-compatible", *limits, "--format", "json", "--max-errors=-1",
                               ROOT], cwd=tmp, capture_output=True, text=True, timeout=PUSH_TIMEOUT, check=False,
                              env={})
    if proc.returncode == 0:
        return {}
    errors = []
    for stream in (proc.stdout, proc.stderr):  # opa writes the JSON report to stderr
        try:
            errors = json.loads(stream).get("errors") or []
            break
        except (ValueError, AttributeError):
            continue
    found: dict[str, str] = {}
    for error in errors:
        file = str((error.get("location") or {}).get("file", ""))
        found.setdefault(file, _error_text({"errors": [error]}, "does not compile"))
    if not found:
        found[""] = " ".join((proc.stderr or proc.stdout or "opa check failed").split())[:500]
    return found


class OpaBackend:
    name = "opa"
    forkable = False
    reloadable = True  # `load` again replaces data.inventory and adds what is new; modules stay compiled

    def __init__(self, url: str | None = None, *, time_limit: float = DEFAULT_TIME_LIMIT) -> None:
        self.time_limit = time_limit
        self._binary: str | None = None
        self._server: _Server | None = None
        self._client: Any = None
        self._modules: dict[str, str] = {}  # policy id -> text the server has
        self._idents: dict[str, str] = {}  # template kind -> Rego identifier
        self._lib_sets: dict[tuple[str, tuple[str, ...]], str] = {}  # (version, libs) -> namespace
        self._v0_server: bool | None = None
        self.url = url or ""
        if url is None:
            self._binary = shutil.which("opa")
            if self._binary is None:
                raise UsageError("--engine opa needs the `opa` binary on PATH, or --opa-url URL of a running "
                                 "OPA server")
            return
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/"):
            raise UsageError(f"--opa-url must look like http://HOST:PORT, not {url!r}")
        self._probe_user_server(url)
        self._connect(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                      parts.scheme == "https")

    # -- connection -----------------------------------------------------------------------------------------

    @staticmethod
    def _probe_user_server(url: str) -> None:
        """A server given with --opa-url answers its health check within `USER_URL_TIMEOUT`, else UsageError."""
        import requests

        try:
            response = requests.get(f"{url.rstrip('/')}/health", timeout=USER_URL_TIMEOUT)
        except requests.Timeout:
            raise UsageError(f"--opa-url {url}: no answer within {USER_URL_TIMEOUT:g}s") from None
        except requests.RequestException as exc:
            reason = "connection refused" if "refused" in str(exc).lower() else _exception_text(exc)
            raise UsageError(f"--opa-url {url}: no OPA server answers ({reason})") from None
        if response.status_code != 200:
            raise UsageError(f"--opa-url {url}: the health check answered HTTP {response.status_code}, not 200 "
                             "(is this an OPA server?)")

    def _connect(self, host: str, port: int, ssl: bool) -> None:
        from opa_client import OpaClient  # heavy (requests); only when the OPA engine is chosen

        self._client = OpaClient(host=host, port=port, ssl=ssl, retries=0, timeout=PUSH_TIMEOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while not self._client.check_health():
            if self._server is not None and self._server.process.poll() is not None:
                raise RuntimeError(f"opa exited with code {self._server.process.returncode} before it was "
                                   f"ready: {self._server.log_tail() or 'no output'}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"OPA server at {self.url} is not healthy after {START_TIMEOUT:g}s")
            time.sleep(0.05)

    def _start(self, modules: dict[str, str]) -> dict[str, str]:
        """Start our server with ``modules`` (leaving out modules that do not compile, or that call a built-in
        kguard refuses); errors by policy id.

        `opa run` takes no capabilities file, so while the server starts, `opa check` compiles the same modules
        against capabilities without `FORBIDDEN_BUILTINS` (and with no network host); if anything fails there,
        the server is started again without those modules. The server runs with an empty environment.
        """
        assert self._binary is not None
        broken: dict[str, str] = {}
        with tempfile.TemporaryDirectory(prefix="kguard-opa-caps-") as tmp:
            capabilities = restricted_capabilities(self._binary, Path(tmp))
            self._server = _Server(self._binary, modules)
            refused = check_modules(self._binary, modules, capabilities)
        if refused:
            self._server.stop()
            self._server = None
            if "" in refused or not set(refused) & set(modules):
                raise UsageError(f"cannot start opa: {refused.get('') or next(iter(refused.values()))}")
            broken.update({k: v for k, v in refused.items() if k in modules})
            modules = {k: v for k, v in modules.items() if k not in broken}
        port_retries = 1
        for _ in range(len(modules) + 2):
            if self._server is None:
                self._server = _Server(self._binary, modules)
            self.url = self._server.url
            try:
                self._connect("127.0.0.1", self._server.port, False)
                self._modules = dict(modules)
                self._v0_server = True
                return broken
            except RuntimeError as exc:
                self._server.stop()
                self._server = None
                found = check_modules(self._binary, modules)
                if not found and port_retries:  # e.g. the free port was taken meanwhile
                    port_retries -= 1
                    continue
                if not found or "" in found or not set(found) & set(modules):
                    raise UsageError(f"cannot start opa: {found.get('') or exc}") from None
                broken.update({k: v for k, v in found.items() if k in modules})
                modules = {k: v for k, v in modules.items() if k not in broken}
        raise UsageError("cannot start opa: every module failed to compile")  # pragma: no cover

    def _is_v0_server(self) -> bool:
        """Whether the server parses modules as Rego v0 (`--v0-compatible`), probed once."""
        if self._v0_server is None:
            try:
                self._put_policy(f"{ROOT}/probe.rego", _PROBE)
                self._v0_server = True
                self._delete_policy(f"{ROOT}/probe.rego")
            except RuntimeError:
                self._v0_server = False
        return self._v0_server

    def _put_policy(self, policy_id: str, text: str) -> None:
        """Upload one module (unless the server has that text); RuntimeError with OPA's first error."""
        import requests
        from opa_client.errors import RegoParseError

        if self._modules.get(policy_id) == text:
            return
        try:  # rego_compat=False: the client would otherwise rewrite v0 rule heads to v1 by regex
            self._client.update_policy_from_string(text, policy_id, rego_compat=False)
        except RegoParseError as exc:
            raise RuntimeError(_error_text({"errors": exc.errors, "message": exc.message}, str(exc))) from None
        except (requests.RequestException, ValueError) as exc:
            raise RuntimeError(f"OPA server at {self.url}: {_exception_text(exc)}") from None
        self._modules[policy_id] = text

    def _delete_policy(self, policy_id: str) -> None:
        with contextlib.suppress(Exception):  # best-effort clean-up of our own module
            self._client.delete_policy(policy_id)
        self._modules.pop(policy_id, None)

    # -- Backend protocol -----------------------------------------------------------------------------------

    def _modules_for(self, templates: list[Template]) -> tuple[dict[str, list[tuple[str, str]]], dict[str, str]]:
        """Each template's modules (shared lib set first), and the templates that cannot be rewritten."""
        per_template: dict[str, list[tuple[str, str]]] = {}
        errors: dict[str, str] = {}
        taken = set(self._idents.values())
        for template in templates:
            problem = forbidden_builtin(template)
            if problem is not None:
                errors[template.kind] = problem
                continue
            ident = self._idents.get(template.kind) or ident_for(template.kind, taken)
            self._idents[template.kind] = ident
            v1 = template.rego_version == "v1"
            lib_key = ("v1" if v1 else "v0", template.libs)
            lib_set = self._lib_sets.setdefault(lib_key, f"s{len(self._lib_sets) + 1}")
            try:
                per_template[template.kind] = [*rewrite_libs(template.libs, lib_set, v1),
                                               rewrite_template(template, ident, lib_set)]
            except ValueError as exc:
                errors[template.kind] = f"does not compile: {exc}"
        return per_template, errors

    def load(self, templates: list[Template], inventory: dict[str, Any]) -> dict[str, str]:
        per_template, errors = self._modules_for(templates)
        if self._client is None:  # our own server: start it with every module, one compile
            wanted = {pid: text for modules in per_template.values() for pid, text in modules}
            broken = self._start({**wanted, BATCH_ID: BATCH_MODULE})
            if BATCH_ID in broken:
                raise UsageError(f"opa rejects kguard's batch rule: {broken[BATCH_ID]}")
            for kind, modules in per_template.items():
                problem = next((broken[pid] for pid, _ in modules if pid in broken), None)
                if problem:
                    errors[kind] = f"does not compile: {problem}"
        else:
            try:
                self._put_policy(BATCH_ID, BATCH_MODULE)
            except RuntimeError as exc:
                raise UsageError(f"OPA server at {self.url} rejects kguard's batch rule: {exc}") from None
            for kind, modules in per_template.items():
                problem = self._push(kind, modules)
                if problem:
                    errors[kind] = f"does not compile: {problem}"
        try:
            self._client.update_or_create_data({"cluster": {}, "namespace": {}, **inventory}, "inventory")
        except Exception as exc:  # an unusable server fails every template, clearly
            message = f"cannot write data.inventory to {self.url}: {_exception_text(exc)}"
            return {t.kind: message for t in templates}
        return errors

    def _push(self, kind: str, modules: list[tuple[str, str]]) -> str | None:
        """Upload a template's modules through the Policy API (libs may call each other: retry until stuck)."""
        pending = modules
        while pending:
            failed, last_error = [], ""
            for policy_id, text in pending:
                try:
                    self._put_policy(policy_id, text)
                except RuntimeError as exc:
                    failed.append((policy_id, text))
                    last_error = str(exc)
            if len(failed) == len(pending):
                if any(m in last_error for m in _V1_SYNTAX_ERRORS) and not self._is_v0_server():
                    last_error += (f" (the OPA server at {self.url} parses Rego v1 only; start it with "
                                   "--v0-compatible to evaluate Rego v0 templates)")
                return last_error
            pending = failed
        return None

    def evaluate(self, kind: str, inputs: list[str]) -> list[Outcome]:
        ident = self._idents[kind]
        body = '{"input":{"template":' + json.dumps(ident) + ',"batch":[' + ",".join(inputs) + "]}}"
        status, payload = self._post(f"{ROOT}/batch/results", body)
        if status == 200:
            results = payload.get("result") if isinstance(payload, dict) else None
            if not isinstance(results, list) or len(results) != len(inputs):
                raise RuntimeError(f"OPA returned no batch result for {kind}")
            return [gatekeeper_results(item) for item in results]
        if status != 500:
            raise RuntimeError(_error_text(payload, f"HTTP {status}"))
        return [self._evaluate_one(ident, text) for text in inputs]  # find the input(s) that fail

    def evaluate_units(self, units: list[Unit]) -> list[dict[str, Outcome]]:
        """All kinds of each unit in one query per chunk; a failing chunk is retried kind by kind."""
        results: list[dict[str, Outcome]] = []
        for start in range(0, len(units), UNITS_PER_REQUEST):
            results.extend(self._units_chunk(units[start:start + UNITS_PER_REQUEST]))
        return results

    def _units_chunk(self, units: list[Unit]) -> list[dict[str, Outcome]]:
        parts = []
        for kinds, text in units:
            names = json.dumps([self._idents[k] for k in kinds])
            parts.append('{"templates":' + names + ',"input":' + text + "}")
        status, payload = self._post(f"{ROOT}/batch/units", '{"input":{"units":[' + ",".join(parts) + "]}}")
        if status == 200:
            rows = payload.get("result") if isinstance(payload, dict) else None
            if not isinstance(rows, list) or len(rows) != len(units):
                raise RuntimeError("OPA returned no result for a batch of units")
            return [{kind: gatekeeper_results(row.get(self._idents[kind])) for kind in kinds}
                    for (kinds, _), row in zip(units, rows, strict=True)]
        if status != 500:
            raise RuntimeError(_error_text(payload, f"HTTP {status}"))
        out: list[dict[str, Outcome]] = [{} for _ in units]  # a runtime error: find its template and input
        by_kind: dict[str, list[int]] = {}
        for index, (kinds, _) in enumerate(units):
            for kind in kinds:
                by_kind.setdefault(kind, []).append(index)
        for kind, indexes in by_kind.items():
            for index, outcome in zip(indexes, self.evaluate(kind, [units[i][1] for i in indexes]), strict=True):
                out[index][kind] = outcome
        return out

    def _evaluate_one(self, ident: str, text: str) -> Outcome:
        status, payload = self._post(f"{ROOT}/templates/{ident}/violation", '{"input":' + text + "}")
        if status == 200:
            return gatekeeper_results(payload.get("result") if isinstance(payload, dict) else None)
        if status == 500:
            return EvalFailure(_error_text(payload, "evaluation failed"))
        raise RuntimeError(_error_text(payload, f"HTTP {status}"))

    def _post(self, path: str, body: str) -> tuple[int, Any]:
        """POST a query to the Data API within the time limit (OPA cancels a query whose client left)."""
        import requests

        try:  # the client's session, with a body built from the already-serialised inputs (no re-encoding)
            response = self._client._session.post(
                f"{self._client.root_url}/data/{path}", data=body.encode("utf-8"),
                headers={"Content-Type": "application/json"}, timeout=self.time_limit)
        except requests.Timeout:
            raise TimeoutError(f"evaluation timed out after {self.time_limit:g}s") from None
        except requests.RequestException as exc:
            raise RuntimeError(f"OPA server at {self.url} unreachable: {exc}") from None
        return response.status_code, _json(response)

    def set_time_limit(self, seconds: float) -> None:
        self.time_limit = seconds

    def close(self) -> None:
        if self._client is not None:
            if self._server is None:  # a user's server: remove what we added
                for policy_id in sorted(self._modules, reverse=True):
                    self._delete_policy(policy_id)
            self._client.close_connection()
            self._client = None
        if self._server is not None:
            self._server.stop()
            self._server = None


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _exception_text(exc: Exception) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    return " ".join(text.split())[:500] if text else type(exc).__name__
