"""The format registry and --report-dir output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scanner.cli import Format
from scanner.model import ScanResult, Severity
from scanner.report import FORMATS, REPORT_FILES, produce, render, write_report_dir
from scanner.safe_files import write_file


def test_formats_registry(scan_result: ScanResult) -> None:
    assert set(FORMATS) == {"rich", "sarif", "json", "markdown", "html"} == {f.value for f in Format}  # --format
    assert json.loads(render("sarif", scan_result))["version"] == "2.1.0"
    assert json.loads(render("json", scan_result))["schema_version"] == "1.1"
    assert "kguard report" in render("rich", scan_result)
    assert render("markdown", scan_result).startswith("## kguard: ")


def test_threshold_reaches_the_renderers_that_take_it(scan_result: ScanResult) -> None:
    scan_result.input_errors.clear()
    scan_result.policy_errors.clear()
    assert render("rich", scan_result, threshold=Severity.CRITICAL).endswith("blocked: 1 finding >= critical\n")
    assert render("rich", scan_result, threshold=None).rstrip().splitlines()[-1].startswith("passed")
    assert "## kguard: passed" in render("markdown", scan_result, threshold=None)
    assert render("sarif", scan_result, threshold=None) == render("sarif", scan_result)  # not an option of SARIF


def test_unknown_format_is_an_error(scan_result: ScanResult) -> None:
    with pytest.raises(ValueError, match="choose from rich, sarif, json"):
        render("xml", scan_result)


def test_write_report_dir(tmp_path: Path, scan_result: ScanResult) -> None:
    target = tmp_path / "reports" / "nested"
    paths = write_report_dir(scan_result, target)
    assert [p.name for p in paths] == list(REPORT_FILES)
    assert set(REPORT_FILES) == {"kguard.sarif", "kguard.json", "kguard.txt", "kguard.md", "kguard.html"}
    assert all(p.parent == target and p.stat().st_size > 0 for p in paths)
    assert json.loads((target / "kguard.sarif").read_text())["runs"][0]["results"]
    assert json.loads((target / "kguard.json").read_text())["summary"]["total"] == 6
    assert "pss-privileged" in (target / "kguard.txt").read_text()
    assert (target / "kguard.md").read_text().startswith("## kguard: ")
    assert (target / "kguard.html").read_text().startswith("<!DOCTYPE html>")
    first = {p.name: p.read_bytes() for p in paths}
    write_report_dir(scan_result, target)
    assert {p.name: p.read_bytes() for p in paths} == first


def test_report_files_written_piece_by_piece_hold_the_rendered_text(tmp_path: Path, scan_result: ScanResult,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """JSON, SARIF, text and HTML files are serialised as they are written (`produce`), in many pieces here, byte for byte
    what `render` gives; the other formats are rendered texts."""
    import scanner.report.json_text as json_text

    monkeypatch.setattr(json_text, "FLUSH_PARTS", 2)
    for name in ("json", "sarif", "rich", "html"):
        assert callable(produce(name, scan_result))
        write_file(tmp_path / f"r.{name}", produce(name, scan_result, threshold=Severity.HIGH))
        assert (tmp_path / f"r.{name}").read_text(encoding="utf-8") == render(name, scan_result)
    assert produce("markdown", scan_result) == render("markdown", scan_result)
    write_report_dir(scan_result, tmp_path / "dir")
    assert (tmp_path / "dir" / "kguard.sarif").read_text(encoding="utf-8") == render("sarif", scan_result)
    assert (tmp_path / "dir" / "kguard.json").read_text(encoding="utf-8") == render("json", scan_result)


def test_write_report_dir_writes_nothing_when_rendering_fails(tmp_path: Path, scan_result: ScanResult) -> None:
    with pytest.raises(ValueError):
        write_report_dir([scan_result, scan_result], tmp_path / "out")  # two runs with one category
    assert not (tmp_path / "out").exists()


def test_a_format_failing_as_it_is_written_leaves_the_earlier_reports_in_place(
        tmp_path: Path, scan_result: ScanResult, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reports are made as their files are written, one after the other: Markdown failing late still writes
    none of the five (the temporary files of the others are removed) and leaves the files already there as they
    were."""
    target = tmp_path / "reports"
    write_report_dir(scan_result, target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    temporary_when_rendered: list[list[str]] = []

    def failing(results: ScanResult, **options: object) -> str:
        temporary_when_rendered.append(sorted(p.name.split(".tmp")[0].rsplit(".", 1)[0] for p in target.iterdir()
                                              if p.name.endswith(".tmp")))
        raise RuntimeError("renderer bug")

    monkeypatch.setitem(REPORT_FILES, "kguard.md", failing)
    with pytest.raises(RuntimeError, match="renderer bug"):
        write_report_dir([scan_result], target, threshold=Severity.HIGH)
    # rendered after the files before it were written (their texts already gone), not all up front
    assert temporary_when_rendered == [[".kguard.json", ".kguard.md", ".kguard.sarif", ".kguard.txt"]]
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before  # no temporary file left either
