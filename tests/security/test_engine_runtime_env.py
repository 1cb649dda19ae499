"""Attack: a template reads `opa.runtime().env` (CI secrets) into its messages.

Both engines must refuse it before evaluating, with the same one-line error (exit 2); the canary secret must
not appear in any output, and the other templates still report.
"""

from __future__ import annotations

import json

import pytest

from tests.engine.conftest import constraint, template
from tests.security.engine_scan import scan, write_case

CANARY = "kguard-secret-canary-51d0b7"
ENV_NAME = "KGUARD_TEST_CI_TOKEN"

READS_ENVIRONMENT = template("K8sEnvLeak", f"""
package k8senvleak
violation contains {{"msg": msg}} if {{
  token := opa.runtime().env.{ENV_NAME}
  msg := sprintf("token: %v", [token])
}}
""") + "---\n" + constraint("K8sEnvLeak", "leak")


@pytest.mark.parametrize("engine", ["regorus", pytest.param("opa", marks=pytest.mark.integration)])
def test_runtime_environment_is_refused_and_the_secret_never_printed(engine, tmp_path, request):
    if engine == "opa":
        request.getfixturevalue("opa_on_path")
    directory = write_case(tmp_path, READS_ENVIRONMENT)

    result = scan(directory, engine, {ENV_NAME: CANARY})

    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("kguard: error:")]
    assert errors == ["kguard: error: policy K8sEnvLeak: calls the built-in opa.runtime, which kguard does not "
                      "allow: templates may not reach the network or the runtime environment (http.send, "
                      "net.lookup_ip_addr, opa.runtime are refused)"]
    assert CANARY not in result.everything()
    assert [f["message"] for f in json.loads(result.report)["findings"]] == ["container c is privileged"]
