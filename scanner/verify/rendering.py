"""go-test-style output of a verify run, and its exit code."""

from __future__ import annotations

from collections.abc import Iterator

from scanner.verify.results import FAIL, NOT_EVALUATED, PASS, SKIP, SuiteResult


def _s(seconds: float) -> str:
    return f"{seconds:.3f}s"


def render(suites: list[SuiteResult], *, verbose: bool = True) -> Iterator[str]:
    """Lines of go-test-style output (without newlines), ending with PASS/FAIL and a count summary."""
    counts = {PASS: 0, FAIL: 0, SKIP: 0}
    not_evaluated = 0
    for suite in suites:
        for test in suite.tests:
            if test.status == SKIP:
                if verbose:
                    yield f"=== SKIP  {test.name}"
                continue
            if verbose:
                yield f"=== RUN   {test.name}"
            if test.status == NOT_EVALUATED:
                not_evaluated += 1
                yield f"--- NOT EVALUATED: {test.name}\t({test.error})"
                continue
            for case in test.cases:
                counts[case.status] += 1
                if case.status == SKIP:
                    if verbose:
                        yield f"    === SKIP  {case.name}"
                    continue
                if verbose:
                    yield f"    === RUN   {case.name}"
                    for note in case.notes:
                        yield f"        note: {note}"
                if case.status == FAIL:
                    yield f"    --- FAIL: {case.name}\t({_s(case.seconds)})"
                    yield f"        {case.error}"
                elif verbose:
                    yield f"    --- PASS: {case.name}\t({_s(case.seconds)})"
            if test.failed:
                yield f"--- FAIL: {test.name}\t({_s(test.total_seconds)})"
                if test.error:
                    yield f"    {test.error}"
            elif verbose:
                yield f"--- PASS: {test.name}\t({_s(test.total_seconds)})"
        missing = sum(1 for t in suite.tests if t.status == NOT_EVALUATED)
        extra = f"\t({missing} test{'s' if missing != 1 else ''} NOT EVALUATED)" if missing else ""
        extra = "\t(suite skipped)" if suite.skipped else extra
        yield f"{'FAIL' if suite.failed else 'ok'}\t{suite.path}\t{_s(suite.seconds)}{extra}"
    failed_tests = sum(1 for s in suites for t in s.tests if t.failed)
    yield "FAIL" if failed_tests else "PASS"
    summary = (f"kguard verify: {len(suites)} suites; cases: {counts[PASS]} passed, {counts[FAIL]} failed, "
               f"{counts[SKIP]} skipped; {failed_tests} tests failed")
    if not_evaluated:
        summary += f"; {not_evaluated} tests NOT EVALUATED (CEL-only or expansion)"
    yield summary


def exit_code(suites: list[SuiteResult]) -> int:
    return 1 if any(s.failed for s in suites) else 0
