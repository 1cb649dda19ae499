"""Rich report: grouping, suppressed findings, summary, exports, golden text."""

from __future__ import annotations

import dataclasses
import io
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console, Group
from rich.padding import Padding
from rich.text import Text

from scanner.model import ScanResult
from scanner.report import rich_report
from tests.report.report_sample import build_result, check_golden


def test_golden(scan_result: ScanResult) -> None:
    check_golden("kguard.txt", rich_report.render(scan_result, console_width=100))


def test_most_severe_first_across_categories(scan_result: ScanResult) -> None:
    text = rich_report.render(scan_result)
    heads = [text.index(h) for h in ("CRITICAL pss-privileged", "HIGH     rbac-wildcard-verbs",
                                     "MEDIUM   seg-default-deny", "MEDIUM   pss-run-as-non-root", "Suppressed (2)")]
    assert heads == sorted(heads)


def test_finding_shows_location_resource_message_and_fix(scan_result: ScanResult) -> None:
    text = rich_report.render(scan_result)
    assert "manifests/base/api-gateway/deployment.yaml:31:13  Deployment production/api-gateway" in text
    assert "field: spec.template.spec.containers[0].securityContext.privileged" in text
    assert "Container gateway in Deployment api-gateway is privileged." in text
    assert "Fix: Remove securityContext.privileged or set it to false." in text
    assert "Related: ClusterRoleBinding shop-admin (manifests/base/platform/rbac.yaml:20)" in text
    # the overlay's ../ path is shown as the base file
    assert "manifests/base/frontend/deployment.yaml:24:9" in text


def test_suppressed_listed_with_justification_and_not_counted(scan_result: ScanResult) -> None:
    text = rich_report.render(scan_result)
    suppressed = text[text.index("Suppressed (2)"):text.index("Not scanned or not evaluated")]
    assert "Suppressed (annotation, owner platform-team, expires 2027-01-31): gateway binds port 80" in suppressed
    assert "Suppressed (baseline): tracked in the baseline" in suppressed
    active = text[:text.index("Suppressed (2)")]
    assert "may run as root" in active and "api-gateway may run as root" not in active
    assert "Suppressed findings (not counted above): 2" in text


def test_summary_counts(scan_result: ScanResult) -> None:
    text = rich_report.render(scan_result)
    rows = {m.group(1): m.group(2).split() for m in re.finditer(r"^\s+(critical|high|medium|low|info|total)\s+(.*)$",
                                                                 text, re.MULTILINE)}
    assert rows["critical"] == ["0", "0", "1", "1"]
    assert rows["medium"] == ["1", "0", "1", "2"]
    assert rows["total"] == ["1", "1", "2", "4"]
    for label, count in (("Files scanned", 6), ("Resources evaluated", 7), ("Input errors", 1),
                         ("Policy errors", 1), ("Skipped inputs", 1), ("Coverage gaps", 1)):
        assert re.search(rf"{label}\s+{count}\b", text), label


def test_problems_listed(scan_result: ScanResult) -> None:
    text = rich_report.render(scan_result)
    assert "input error    manifests/broken.yaml:7: mapping values are not allowed here" in text
    assert "policy error   rbac-unused-rule: evaluation timed out after 5s" in text
    assert "skipped        manifests/base/kustomization.yaml:1" in text
    assert "coverage gap   forbidden: cannot list" in text


def test_clean_result() -> None:
    text = rich_report.render(ScanResult(findings=[], scanned=["a.yaml"], resources=1))
    assert "No unsuppressed findings." in text
    assert "Not scanned or not evaluated" not in text


def test_width_and_no_trailing_spaces(scan_result: ScanResult) -> None:
    text = rich_report.render(scan_result, console_width=60)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 60
    assert all(line == line.rstrip() for line in lines)


def test_print_report_to_console_and_several_runs(scan_result: ScanResult) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=120, force_terminal=True, color_system="standard", _environ={})
    staging = dataclasses.replace(build_result(), category="kguard/staging")
    rich_report.print_report([scan_result, staging], console)
    out = buffer.getvalue()
    assert "\x1b[" in out  # coloured on a terminal
    assert "kguard report: kguard/production" in out and "kguard report: kguard/staging" in out


def test_deterministic(scan_result: ScanResult) -> None:
    shuffled = build_result()
    shuffled.findings.reverse()
    shuffled.skipped.reverse()
    assert rich_report.render(shuffled) == rich_report.render(scan_result)


# --- the plain-text export lays out text parts itself: checked against Rich's own rendering -----------------------

_texts = st.lists(st.sampled_from([*"ab c-_/.:\t\n", "  ", "日本", "é", "\u200b", "\u0301", "🙂", "x" * 30]),
                  max_size=40).map("".join)


def _part(draw: st.DrawFn, depth: int = 0) -> Any:
    kind = draw(st.sampled_from(["text", "group", "padding"] if depth < 3 else ["text"]))
    if kind == "text":
        return Text(draw(_texts), style=draw(st.sampled_from(["", "bold", "dim"])))
    if kind == "group":
        return Group(*(_part(draw, depth + 1) for _ in range(draw(st.integers(0, 3)))))
    return Padding(_part(draw, depth + 1), (0, 0, 0, draw(st.integers(0, 6))))


@st.composite
def _parts(draw: st.DrawFn) -> Any:
    return _part(draw)


def _rich_plain(part: Any, width: int) -> str:
    console = rich_report._recording_console(width, color=False)
    console.print(part)
    return console.export_text()


@settings(max_examples=500, deadline=None)
@given(_parts(), st.integers(min_value=8, max_value=60))
def test_plain_lines_are_what_rich_prints(part: Any, width: int) -> None:
    """Wide and combining characters, tabs, line breaks, words longer than a line, indents near the width: the
    lines `_plain_lines` lays out are Rich's, trailing spaces aside; a part it cannot lay out goes to Rich."""
    lines: list[str] = []
    console = rich_report._recording_console(width, color=False)
    if rich_report._plain_lines(part, console, width, lines):
        expected = [line.rstrip() for line in _rich_plain(part, width).split("\n")[:-1]]
        assert [line.rstrip() for line in lines] == expected


def test_parts_other_than_plain_text_go_to_rich() -> None:
    console = rich_report._recording_console(40, color=False)
    for part in (Text("centred", justify="center"), Text("x", end=""), Text("long " * 20, no_wrap=True),
                 Padding(Text("x"), (1, 0, 0, 2)), Padding(Text("x"), (0, 0, 0, 2), expand=False),
                 Group(Text("a"), rich_report.Table()), rich_report.Table()):
        assert not rich_report._plain_lines(part, console, 40, [])
    assert rich_report._plain_lines(Group(Text("a"), Padding(Text("b"), (0, 0, 0, 2))), console, 40, [])


def test_the_text_report_is_what_rich_prints_part_by_part(scan_result: ScanResult) -> None:
    """The whole export against Rich printing every part (several runs, suppressed findings, long messages)."""
    staging = dataclasses.replace(scan_result, category="staging", findings=[
        dataclasses.replace(f, message=f.message + " " + "very-long-word" * 12) for f in scan_result.findings])
    results = [scan_result, staging]
    console = rich_report._recording_console(rich_report.DEFAULT_WIDTH, color=False)
    rich_report.print_report(results, console, rich_report.View(layout=rich_report.FULL, show_suppressed=True))
    lines = console.export_text().split("\n")[:-1]
    assert rich_report.export_text(results) == "".join(line.rstrip() + "\n" for line in lines)


def test_the_text_report_goes_out_in_whole_lines(scan_result: ScanResult, monkeypatch: pytest.MonkeyPatch) -> None:
    """`write_text` hands on whole lines, a part at a time, trailing spaces removed and workflow commands guarded,
    for the parts it lays out and those Rich prints alike; the pieces join to `export_text`'s text."""
    table = rich_report.Table("name")
    table.add_row("::warning::in a table")
    parts = [Text("trailing spaces  "), Text("::error::forged"), table, Group(Text("a"), Padding(Text("b  "),
                                                                                                  (0, 0, 0, 2)))]
    monkeypatch.setattr(rich_report, "report_renderables", lambda result, view, title_run: iter(parts))
    pieces: list[str] = []
    rich_report.write_text(scan_result, pieces.append, threshold=None)
    assert all(piece.endswith("\n") for piece in pieces) and len(pieces) == len(parts) + 1  # + the verdict
    assert pieces[:2] == ["trailing spaces\n", "\\::error::forged\n"]
    assert "::warning::in a table" in pieces[2] and pieces[3] == "a\n  b\n"
    assert "".join(pieces) == rich_report.export_text(scan_result, threshold=None)
