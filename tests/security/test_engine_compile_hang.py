"""Attack: a template whose source makes the embedded engine's parser run for hours (a list literal nested 32
deep; regorus' parse time doubles with each level).

Compiling happens in a forked child under `--policy-timeout`: the template becomes a policy error naming it, the
other templates still report, the report is written, and the scan ends in about the time limit.
"""

from __future__ import annotations

import json
import time

from tests.engine.conftest import constraint, template
from tests.security.engine_scan import scan, write_case

DEPTH = 32
DEEP_LIST = template("K8sDeepList", "package k8sdeeplist\n\nnested := " + "[" * DEPTH + "1" + "]" * DEPTH +
                     '\n\nviolation contains {"msg": "never"} if nested\n') + "---\n" + constraint("K8sDeepList", "deep")


def test_a_template_that_hangs_the_parser_is_an_error_and_the_scan_goes_on(tmp_path):
    directory = write_case(tmp_path, DEEP_LIST)
    started = time.monotonic()

    result = scan(directory, "regorus", None, "--policy-timeout", "2")

    assert time.monotonic() - started < 60  # not hours: the child was killed at the time limit
    assert result.returncode == 2
    assert [line for line in result.stderr.splitlines() if line.startswith("kguard: error:")] == \
        ["kguard: error: policy K8sDeepList: does not compile: timed out after 2s"]
    assert [f["message"] for f in json.loads(result.report)["findings"]] == ["container c is privileged"]
