"""The OPA fixture runs a real ``opa run --server`` that accepts policies and answers queries."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures.opa import OpaServer, require_opa, running_opa_server
from tests.fixtures.tools import find_tool

POLICY = """package kguard.fixture

default allow := false

allow if input.user == "admin"

denied contains name if {
    some name in input.names
    startswith(name, "bad-")
}
"""


def _call(method: str, url: str, body: bytes | None = None, content_type: str = "application/json") -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _query(url: str, path: str, input_doc: dict) -> dict:
    status, body = _call("POST", f"{url}/v1/data/{path}", json.dumps({"input": input_doc}).encode())
    assert status == 200, body
    return body


def test_find_tool_prefers_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bin").mkdir()
    fake = tmp_path / "bin" / "some-tool"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("KGUARD_CACHE", str(tmp_path))
    assert find_tool("some-tool") == fake
    assert find_tool("kguard-no-such-tool") is None


@pytest.mark.integration
def test_opa_server_accepts_a_policy_and_answers_queries(opa_server: OpaServer) -> None:
    status, body = _call("PUT", f"{opa_server.url}/v1/policies/kguard-fixture", POLICY.encode(), "text/plain")
    assert status == 200, body

    assert _query(opa_server.url, "kguard/fixture/allow", {"user": "admin"})["result"] is True
    assert _query(opa_server.url, "kguard/fixture/allow", {"user": "auditor"})["result"] is False
    denied = _query(opa_server.url, "kguard/fixture/denied", {"names": ["ok", "bad-1", "bad-2"]})["result"]
    assert sorted(denied) == ["bad-1", "bad-2"]


@pytest.mark.integration
def test_opa_server_rejects_invalid_rego(opa_server: OpaServer) -> None:
    status, body = _call("PUT", f"{opa_server.url}/v1/policies/broken", b"package broken\nallow if {", "text/plain")
    assert status == 400
    assert body["code"] == "invalid_parameter"


@pytest.mark.integration
def test_running_opa_server_stops_on_exit() -> None:
    with running_opa_server(require_opa()) as server:
        parsed = urllib.parse.urlparse(server.url)
        status, _ = _call("GET", f"{server.url}/health")
        assert status == 200
    with socket.socket() as probe:
        assert probe.connect_ex((parsed.hostname, parsed.port)) != 0
