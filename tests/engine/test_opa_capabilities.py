"""The OPA server kguard starts cannot reach outside, even for a module that slipped past the text check."""

from __future__ import annotations

import json
import shutil
import time
import urllib.request

import pytest

from scanner.engine.opa_backend import OpaBackend, _Server, check_modules, restricted_capabilities

pytestmark = pytest.mark.integration

CANARY = "kguard-env-canary-0c4f2d"
SENDS = "package kguard.templates.K8sSends\n\nviolation[{\"msg\": m}] {\n  m := http.send({\"method\": \"GET\", " \
        "\"url\": \"http://127.0.0.1:9/\"}).body\n}\n"
READS_ENV = "package kguard.templates.K8sEnv\n\nviolation[{\"msg\": m}] {\n  m := opa.runtime().env.HOME\n}\n"
LOOKS_UP = "package kguard.templates.K8sDns\n\nviolation[{\"msg\": m}] {\n  m := net.lookup_ip_addr(\"example.com\")\n}\n"
PLAIN = "package kguard.templates.K8sPlain\n\nviolation[{\"msg\": \"x\"}] {\n  input.review.object.bad\n}\n"


def test_opa_check_with_the_restricted_capabilities_refuses_each_builtin(opa_on_path, tmp_path):
    binary = shutil.which("opa")
    modules = {"kguard/templates/K8sSends.rego": SENDS, "kguard/templates/K8sEnv.rego": READS_ENV,
               "kguard/templates/K8sDns.rego": LOOKS_UP, "kguard/templates/K8sPlain.rego": PLAIN}

    refused = check_modules(binary, modules, restricted_capabilities(binary, tmp_path))

    assert sorted(refused) == ["kguard/templates/K8sDns.rego", "kguard/templates/K8sEnv.rego",
                               "kguard/templates/K8sSends.rego"]
    assert "http.send" in refused["kguard/templates/K8sSends.rego"]
    assert "opa.runtime" in refused["kguard/templates/K8sEnv.rego"]
    assert check_modules(binary, modules) == {}  # without the capabilities file all four compile


def test_the_started_server_leaves_out_modules_that_use_refused_builtins(opa_on_path):
    backend = OpaBackend()
    try:
        broken = backend._start({"kguard/templates/K8sSends.rego": SENDS, "kguard/templates/K8sPlain.rego": PLAIN})
        assert list(broken) == ["kguard/templates/K8sSends.rego"]
        assert list(backend._modules) == ["kguard/templates/K8sPlain.rego"]
    finally:
        backend.close()


def test_the_started_server_has_an_empty_environment(opa_on_path, monkeypatch):
    monkeypatch.setenv("KGUARD_TEST_SECRET", CANARY)
    server = _Server(shutil.which("opa"), {"kguard/probe.rego": "package kguard.probe\n\nenv := opa.runtime().env\n"})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{server.url}/v1/data/kguard/probe/env", timeout=2) as response:
                    body = json.load(response)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        server.stop()

    assert body["result"] == {}
