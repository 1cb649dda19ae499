"""Attack: a template whose source overflows the embedded engine's stack while it is parsed (10,000 nested calls),
which used to kill kguard itself with SIGSEGV (exit 139, no report).

Compiling happens in a forked child: the crash becomes a one-line policy error naming the template, nothing the
dying engine printed reaches stderr, the other templates still report and the report is written.
"""

from __future__ import annotations

import json

from tests.engine.conftest import constraint, template
from tests.security.engine_scan import scan, write_case

DEPTH = 10_000
DEEP_CALLS = template("K8sDeepCalls", "package k8sdeepcalls\n\nvalue := " + "count(" * DEPTH + "[]" + ")" * DEPTH +
                      '\n\nviolation contains {"msg": "never"} if value\n') + "---\n" + constraint("K8sDeepCalls", "d")


def test_a_template_that_crashes_the_parser_is_an_error_and_the_report_is_written(tmp_path):
    directory = write_case(tmp_path, DEEP_CALLS)

    result = scan(directory, "regorus", {"RUST_BACKTRACE": "1"})

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "kguard: error: policy K8sDeepCalls: does not compile: the engine crashed (SIGSEGV)"]
    assert [f["message"] for f in json.loads(result.report)["findings"]] == ["container c is privileged"]
