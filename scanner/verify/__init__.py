"""`kguard verify`: run Gatekeeper test suites (`kind: Suite`) with `gator verify` semantics.

A suite names tests (a ConstraintTemplate, a Constraint, cases) and each case an object to review, optional
`inventory` files (the only objects in `data.inventory` for that case) and assertions (`violations: yes|no|N`,
optional `message` regex; results whose msg matches are counted). Templates, constraints, matching and the
review come from `scanner.engine`; every case of a run is evaluated through one Rego backend, grouped by
inventory so that each distinct inventory is loaded once, under the same time limits as a scan.

Differences from gator are explicit, never silent: templates with only CEL code and tests using `expansion`
are reported as NOT EVALUATED.

Modules, in data-flow order: `suites` (finding suite files, the --run filter), `fixtures` and `schema` (the
template, constraint and objects a test names), `cases` (review input, matching, assertions), `planning`,
`evaluation` (`verify`), `rendering` (go-test-style output); `results` holds the result types.
"""

from __future__ import annotations

from scanner.verify.cases import check_assertion
from scanner.verify.evaluation import verify
from scanner.verify.rendering import exit_code, render
from scanner.verify.results import FAIL, NOT_EVALUATED, PASS, SKIP, CaseError, SuiteResult
from scanner.verify.suites import Filter, find_suites

__all__ = ["FAIL", "NOT_EVALUATED", "PASS", "SKIP", "CaseError", "Filter", "SuiteResult", "check_assertion",
           "exit_code", "find_suites", "render", "verify"]
