"""Speed work must not change a verdict: the reports of a generated corpus stay byte-identical (issue 16).

The corpus is `bench/generate_corpus.py` at a test-sized scale (seeded: 12 namespaces x 20 workloads, ~540 objects,
every policy family and both analyses have work). The reference reports were written by the code before any
optimisation of issue 16 (commit 73264a2) and are only ever rewritten on purpose, when a change of verdicts or
report format is intended (the policy library's digest is compared blanked: changing a policy's text for speed
changes it):

    .venv/bin/python tests/test_corpus_output.py --update
"""

from __future__ import annotations

import gzip
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from generate_corpus import generate  # noqa: E402

REFERENCE = REPO / "tests" / "fixtures" / "corpus-output"
FORMATS = ("json", "sarif")
NAMESPACES, WORKLOADS = 12, 20
# The digest of the policy library is part of every report; a speed change in a policy changes it legitimately.
LIBRARY_DIGEST = re.compile(rb'("policies": \{\s*"source": "bundled",\s*"sha256": ")[0-9a-f]{64}"')


def normalised(report: bytes) -> bytes:
    """``report`` with the policy library's digest blanked out (everything else must stay byte for byte)."""
    blanked, count = LIBRARY_DIGEST.subn(rb'\1<library digest>"', report)
    assert count >= 1, "the report no longer names its policy library"
    return blanked


def scan_corpus(work: Path) -> dict[str, bytes]:
    """The corpus written under ``work`` and scanned by a real `kguard` process, once per format."""
    generate(work / "corpus", NAMESPACES, WORKLOADS)
    out: dict[str, bytes] = {}
    for fmt in FORMATS:
        report = work / f"kguard.{fmt}"
        done = subprocess.run([sys.executable, "-m", "scanner", "scan", "corpus", "--format", fmt, "--output",
                               str(report), "--quiet"], cwd=work, capture_output=True, text=True, check=False)
        assert done.returncode == 1, done.stderr  # the corpus has high findings: exit 1, never 2
        out[fmt] = report.read_bytes()
    return out


@pytest.mark.parametrize("fmt", FORMATS)
def test_corpus_reports_are_byte_identical_to_the_reference(tmp_path_factory: pytest.TempPathFactory,
                                                            fmt: str) -> None:
    produced = normalised(_produced(tmp_path_factory)[fmt])
    expected = normalised(gzip.decompress((REFERENCE / f"kguard.{fmt}.gz").read_bytes()))
    assert len(produced) > 10_000  # a real report, not an empty one
    if produced != expected:
        first = next(i for i, (a, b) in enumerate(zip(produced, expected, strict=False)) if a != b) \
            if produced[:len(expected)] != expected[:len(produced)] else min(len(produced), len(expected))
        raise AssertionError(f"kguard.{fmt} differs from the reference at byte {first}: "
                             f"{produced[max(0, first - 200):first + 200]!r} vs "
                             f"{expected[max(0, first - 200):first + 200]!r}")


_CACHE: dict[str, dict[str, bytes]] = {}


def _produced(factory: pytest.TempPathFactory) -> dict[str, bytes]:
    if "out" not in _CACHE:
        _CACHE["out"] = scan_corpus(factory.mktemp("corpus-output"))
    return _CACHE["out"]


def _update() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        produced = scan_corpus(Path(tmp))
    REFERENCE.mkdir(parents=True, exist_ok=True)
    for fmt, data in produced.items():
        (REFERENCE / f"kguard.{fmt}.gz").write_bytes(gzip.compress(data, mtime=0))
        print(f"wrote {REFERENCE / f'kguard.{fmt}.gz'} ({len(data)} bytes)")


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: tests/test_corpus_output.py --update")
    _update()
