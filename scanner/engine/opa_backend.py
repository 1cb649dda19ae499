"""An OPA server as the Rego backend (the reference implementation), through `opa-python-client`.

Every template is pushed once as its own modules, isolated the way Gatekeeper isolates templates: its package
becomes `kguard.templates.<Kind>` and its libs' `package lib.x` (and every `data.lib` reference in the
template's modules) move under `kguard.libs.<Kind>`. `data.inventory` is pushed once per load. Inputs are
evaluated in batches: a generated rule evaluates the template's `violation` for each element of `input.batch`
with `with input as`, so one HTTP round trip serves many objects. A runtime error in a batch is retried input
by input to find the failing object; every request has a time limit, after which OPA cancels the query.

Rego versions: OPA parses every module with one server-wide version. The server kguard starts runs with
`--v0-compatible`, so v0 templates load unchanged, and v1 templates get `import rego.v1` (appended to their
package line, so line numbers stay the same), which makes that one module Rego v1. On a server given with a
URL that runs in the OPA 1.x default (v1) mode, v0 templates that need v0 syntax cannot load and are reported.
"""

from __future__ import annotations

import atexit
import contextlib
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

from scanner.engine.backend import EvalFailure, Outcome, gatekeeper_results
from scanner.engine.templates import Template
from scanner.errors import UsageError

ROOT = "kguard"
START_TIMEOUT = 20.0  # seconds for a started server to become healthy
PUSH_TIMEOUT = 60.0  # seconds for one policy or data upload (compiling a large module set takes a while)
DEFAULT_TIME_LIMIT = 10.0
_PACKAGE_LINE = re.compile(r"^[ \t]*package[ \t]+([A-Za-z0-9_.\[\]\"-]+)[^\n]*", re.MULTILINE)
_REGO_V1_IMPORT = re.compile(r"^\s*import\s+rego\.v1\b", re.MULTILINE)
_V1_SYNTAX_ERRORS = ("`if` keyword is required", "`contains` keyword is required")
_PROBE = "package kguard.probe\n\np[x] { x := 1 }\n"  # v0-only syntax: accepted only by a v0-compatible server


def _ident(kind: str, taken: set[str]) -> str:
    """A Rego identifier for ``kind``, unique among ``taken``."""
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
    """Move ``module`` to ``package``, its `data.lib` references to ``libs_root``; v1 modules get `import rego.v1`."""
    text = re.sub(r"\bdata\.lib\b", f"data.{libs_root}", module)
    if own_package:
        text = re.sub(rf"\bdata\.{re.escape(own_package)}\b", f"data.{package}", text)
    suffix = " import rego.v1" if v1 and not _REGO_V1_IMPORT.search(module) else ""
    text, count = _PACKAGE_LINE.subn(lambda m: f"package {package}{suffix}", text, count=1)
    if not count:
        raise ValueError("Rego module has no package declaration")
    return text


def rewrite_template(template: Template, ident: str) -> list[tuple[str, str]]:
    """The (policy id, module text) pairs that isolate ``template`` on a shared OPA server, libs first."""
    assert template.rego is not None
    v1 = template.rego_version == "v1"
    libs_root = f"{ROOT}.libs.{ident}"
    modules = []
    for index, lib in enumerate(template.libs):
        match = _PACKAGE_LINE.search(lib)
        if not match:
            raise ValueError(f"lib {index} has no package declaration")
        original = match.group(1)
        if not original.startswith("lib.") and original != "lib":
            raise ValueError(f"lib {index} must be in a package under lib, not {original!r}")
        package = f"{libs_root}{original[3:]}"
        modules.append((f"{ROOT}/{ident}/lib{index}.rego", _rewrite(lib, package, libs_root, None, v1)))
    own = _PACKAGE_LINE.search(template.rego)
    own_package = own.group(1) if own else None
    modules.append((f"{ROOT}/{ident}/template.rego",
                    _rewrite(template.rego, f"{ROOT}.templates.{ident}", libs_root, own_package, v1)))
    return modules


def batch_module(ident: str) -> str:
    """The rule that evaluates a template's `violation` for every element of `input.batch` (null if undefined)."""
    return (
        f"package {ROOT}.batch.{ident}\n\n"
        "import rego.v1\n\n"
        "results := [_one(item) | some item in input.batch]\n\n"
        "_one(item) := v if {\n"
        f"\tv := data.{ROOT}.templates.{ident}.violation with input as item\n"
        "} else := null\n"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Server:
    """An `opa run --server` kguard started on a loopback port; stopped by `stop()` (and at exit)."""

    def __init__(self, binary: str) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="kguard-opa-")
        self.log = Path(self._dir.name) / "opa.log"
        self.port = _free_port()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [binary, "run", "--server", "--addr", f"127.0.0.1:{self.port}", "--v0-compatible",
                 "--skip-version-check", "--log-level", "error"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
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
        return lines[-1] if lines else ""

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


class OpaBackend:
    name = "opa"
    forkable = False

    def __init__(self, url: str | None = None, *, time_limit: float = DEFAULT_TIME_LIMIT) -> None:
        from opa_client import OpaClient  # heavy (requests); only when the OPA engine is chosen

        self.time_limit = time_limit
        self._server: _Server | None = None
        if url is None:
            binary = shutil.which("opa")
            if binary is None:
                raise UsageError("--engine opa needs the `opa` binary on PATH, or --opa-url URL of a running "
                                 "OPA server")
            self._server = _Server(binary)
            url = self._server.url
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/"):
            self.close()
            raise UsageError(f"--opa-url must look like http://HOST:PORT, not {url!r}")
        self.url = url
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self._client = OpaClient(host=parts.hostname, port=port, ssl=parts.scheme == "https", retries=0,
                                 timeout=PUSH_TIMEOUT)
        self._idents: dict[str, str] = {}  # template kind -> Rego identifier
        self._policy_ids: list[str] = []
        self._v0_server: bool | None = True if self._server else None
        try:
            self._wait_healthy()
        except UsageError:
            self.close()
            raise

    # -- server -------------------------------------------------------------------------------------------

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._client.check_health():
                return
            if self._server is not None and self._server.process.poll() is not None:
                raise UsageError(f"opa exited with code {self._server.process.returncode} before it was ready: "
                                 f"{self._server.log_tail() or 'no output'}")
            if time.monotonic() > deadline:
                raise UsageError(f"OPA server at {self.url} is not healthy after {START_TIMEOUT:g}s")
            time.sleep(0.05)

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
        """Upload one module; RuntimeError with OPA's first error when it does not compile."""
        import requests
        from opa_client.errors import RegoParseError

        try:  # rego_compat=False: the client would otherwise rewrite v0 heads to v1 by regex
            self._client.update_policy_from_string(text, policy_id, rego_compat=False)
        except RegoParseError as exc:
            raise RuntimeError(_error_text({"errors": exc.errors, "message": exc.message}, str(exc))) from None
        except (requests.RequestException, ValueError) as exc:
            raise RuntimeError(f"OPA server at {self.url}: {_exception_text(exc)}") from None
        if policy_id not in self._policy_ids:
            self._policy_ids.append(policy_id)

    def _delete_policy(self, policy_id: str) -> None:
        with contextlib.suppress(Exception):  # best-effort clean-up of our own module
            self._client.delete_policy(policy_id)
        if policy_id in self._policy_ids:
            self._policy_ids.remove(policy_id)

    # -- Backend protocol ---------------------------------------------------------------------------------

    def load(self, templates: list[Template], inventory: dict[str, Any]) -> dict[str, str]:
        errors: dict[str, str] = {}
        try:
            self._client.update_or_create_data({"cluster": {}, "namespace": {}, **inventory}, "inventory")
        except Exception as exc:  # an unusable server fails every template, clearly
            message = f"cannot upload data.inventory to {self.url}: {_exception_text(exc)}"
            return {t.kind: message for t in templates}
        taken = {self._idents[k] for k in self._idents}
        for template in templates:
            ident = self._idents.get(template.kind) or _ident(template.kind, taken)
            self._idents[template.kind] = ident
            problem = self._push_template(template, ident)
            if problem:
                errors[template.kind] = f"does not compile: {problem}"
        return errors

    def _push_template(self, template: Template, ident: str) -> str | None:
        """Push the template's modules (libs in dependency order) and its batch rule; the error, if any."""
        try:
            pending = rewrite_template(template, ident)
        except ValueError as exc:
            return str(exc)
        while pending:  # a lib may call another lib: retry until no module makes progress
            failed: list[tuple[str, str]] = []
            last_error = ""
            for policy_id, text in pending:
                try:
                    self._put_policy(policy_id, text)
                except RuntimeError as exc:
                    failed.append((policy_id, text))
                    last_error = str(exc)
            if len(failed) == len(pending):
                for policy_id, _ in rewrite_template(template, ident):
                    self._delete_policy(policy_id)
                if template.rego_version != "v1" and not self._is_v0_server() and any(
                        marker in last_error for marker in _V1_SYNTAX_ERRORS):
                    last_error += (f" (the OPA server at {self.url} parses Rego v1 only; start it with "
                                   "--v0-compatible to evaluate Rego v0 templates)")
                return last_error
            pending = failed
        try:
            self._put_policy(f"{ROOT}/{ident}/batch.rego", batch_module(ident))
        except RuntimeError as exc:
            return str(exc)
        return None

    def evaluate(self, kind: str, inputs: list[str]) -> list[Outcome]:
        ident = self._idents[kind]
        body = '{"input":{"batch":[' + ",".join(inputs) + "]}}"
        status, payload = self._post(f"{ROOT}/batch/{ident}/results", body)
        if status == 200:
            results = payload.get("result") if isinstance(payload, dict) else None
            if not isinstance(results, list) or len(results) != len(inputs):
                raise RuntimeError(f"OPA returned no batch result for {kind}")
            return [gatekeeper_results(item) for item in results]
        if status != 500:
            raise RuntimeError(_error_text(payload, f"HTTP {status}"))
        return [self._evaluate_one(ident, text) for text in inputs]  # find the input(s) that fail

    def _evaluate_one(self, ident: str, text: str) -> Outcome:
        status, payload = self._post(f"{ROOT}/templates/{ident}/violation", '{"input":' + text + "}")
        if status == 200:
            return gatekeeper_results(payload.get("result") if isinstance(payload, dict) else None)
        if status == 500:
            return EvalFailure(_error_text(payload, "evaluation failed"))
        raise RuntimeError(_error_text(payload, f"HTTP {status}"))

    def _post(self, path: str, body: str) -> tuple[int, Any]:
        """POST a pre-serialised query to the Data API within the time limit (OPA cancels it on disconnect)."""
        import requests

        try:
            response = self._client._session.post(  # the inputs are JSON text already: no re-encoding
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
        client = getattr(self, "_client", None)
        if client is not None:
            if self._server is None:  # a user's server: remove what we added
                for policy_id in list(self._policy_ids):
                    self._delete_policy(policy_id)
            client.close_connection()
        if self._server is not None:
            self._server.stop()
            self._server = None


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _exception_text(exc: Exception) -> str:
    message = getattr(exc, "message", None)
    return str(message or exc).strip().splitlines()[0] if str(message or exc).strip() else type(exc).__name__
