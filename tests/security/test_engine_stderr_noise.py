"""Attack: a template that makes the embedded engine abort on a failed allocation while evaluating, with
`RUST_BACKTRACE=full` set, and one whose syntax error comes with a Rust backtrace.

The raw allocation failure and backtraces must not reach the user's stderr: each template gets one sanitised
policy-error line (exit 2), and the other templates still report.
"""

from __future__ import annotations

import json

from tests.engine.conftest import constraint, template
from tests.security.engine_scan import scan, write_case

HUGE = template("K8sHuge", """
package k8shuge
violation contains {"msg": msg} if {
  n := count(numbers.range(1, 100000000000000))
  msg := sprintf("%v numbers", [n])
}
""") + "---\n" + constraint("K8sHuge", "huge")
BROKEN = template("K8sBroken", "package k8sbroken\n\nviolation contains {\"msg\": m} if {\n  m := \n}\n") + \
    "---\n" + constraint("K8sBroken", "broken")


def test_engine_aborts_and_backtraces_become_one_line_errors(tmp_path):
    directory = write_case(tmp_path, HUGE, BROKEN)

    result = scan(directory, "regorus", {"RUST_BACKTRACE": "full"})

    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert all(line.startswith("kguard: ") for line in lines), result.stderr
    errors = sorted(line for line in lines if line.startswith("kguard: error:"))
    assert len(errors) == 2
    assert errors[0].startswith("kguard: error: policy K8sBroken: does not compile: error: ")
    assert errors[1] == ("kguard: error: policy K8sHuge: the engine crashed (SIGABRT): memory allocation of "
                         "2400000000000000 bytes failed")
    assert "backtrace" not in result.stderr.lower()
    assert [f["message"] for f in json.loads(result.report)["findings"]] == ["container c is privileged"]
