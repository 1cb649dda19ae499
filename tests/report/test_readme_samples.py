"""The samples in reports/README.md are what kguard prints for the example overlay today (real kubectl kustomize,
the bundled policies): every sample line appears in the real output, in order."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scanner.cli import app

REPO = Path(__file__).resolve().parents[2]
OVERLAY = "tests/fixtures/kustomize/app/overlays/prod"


def _block(language: str, after: str) -> list[str]:
    text = (REPO / "reports" / "README.md").read_text(encoding="utf-8")
    start = text.index(f"```{language}\n", text.index(after)) + len(language) + 4
    return text[start:text.index("\n```", start)].splitlines()


def _in_order(sample: list[str], real: list[str]) -> None:
    position = 0
    for line in sample:
        if line.strip() in ("...", ""):
            continue
        while position < len(real) and real[position] != line:
            position += 1
        assert position < len(real), f"sample line not in the real output (in order): {line!r}"
        position += 1


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Path]:
    out = tmp_path_factory.mktemp("reports")
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("PRE_COMMIT", raising=False)
    for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_SHA"):
        monkeypatch.delenv(name, raising=False)
    try:
        result = CliRunner().invoke(app, ["scan", "--kustomize", OVERLAY, "--layout", "compact", "--report-dir",
                                          str(out)], env={"COLUMNS": "80"})
    finally:
        monkeypatch.undo()
    assert result.exit_code == 1, result.output
    return result.stdout.splitlines(), out


def test_terminal_sample(reports: tuple[list[str], Path]) -> None:
    sample = _block("text", "A real sample (`kguard scan --kustomize")
    assert sample[-1].startswith("blocked: ")
    _in_order(sample, reports[0])


def test_markdown_sample(reports: tuple[list[str], Path]) -> None:
    sample = _block("markdown", "The sample above as Markdown")
    _in_order(sample, (reports[1] / "kguard.md").read_text(encoding="utf-8").splitlines())


def test_json_and_sarif_samples_name_real_values(reports: tuple[list[str], Path]) -> None:
    sarif = (reports[1] / "kguard.sarif").read_text(encoding="utf-8")
    report = (reports[1] / "kguard.json").read_text(encoding="utf-8")
    fingerprints = re.findall(r'"kguard/v1": "([0-9a-f]+)"', "\n".join(_block("json", "One result of the same scan")))
    assert fingerprints and all(fp in sarif and fp in report for fp in fingerprints)
    summary = "\n".join(_block("json", "The same finding in the JSON report"))
    total = re.search(r'"total": (\d+)', summary)
    assert total and f'"total": {total.group(1)}' in report


def test_terminal_screenshot_is_the_example_report() -> None:
    """docs/images/kguard-terminal.svg (Rich's SVG export of the compact report) shows this scan's verdict."""
    svg = (REPO / "docs" / "images" / "kguard-terminal.svg").read_text(encoding="utf-8")
    verdict = _block("text", "A real sample (`kguard scan --kustomize")[-1]
    assert html.escape(verdict, quote=False).replace(" ", "&#160;") in svg and "kguard-terminal.svg" in (REPO / "README.md").read_text()
