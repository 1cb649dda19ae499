"""Reading the previous report of `kguard audit --compare`: a malformed one is a usage error naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.diff.previous import load_previous
from scanner.errors import UsageError

GOOD_JSON = '{"schema_version": "1.0", "findings": [{"fingerprint": "f1", "rule_id": "r", "location": {"line": 3}}]}'


def test_a_json_report_is_read(tmp_path: Path) -> None:
    (tmp_path / "previous.json").write_text(GOOD_JSON, encoding="utf-8")
    [finding] = load_previous(tmp_path / "previous.json")
    assert (finding.fingerprint, finding.rule_id, finding.location.line) == ("f1", "r", 3)


@pytest.mark.parametrize("text", [
    '{"schema_version": "1.0", "findings": [{"fingerprint": "f", "location": {"line": "three"}}]}',
    '{"schema_version": "1.0", "findings": 5}',
    '{"schema_version": "1.0", "findings": [{"fingerprint": "f", "tags": 1}]}',
    '{"runs": [5]}',
    '{"runs": [{"results": [{"partialFingerprints": {"kguard/v1": "f"}, "properties": {"tags": 3}}]}]}',
])
def test_a_field_of_the_wrong_type_is_a_usage_error(tmp_path: Path, text: str) -> None:
    (tmp_path / "previous.json").write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match=r"previous\.json: --compare: not a kguard JSON report or SARIF log"):
        load_previous(tmp_path / "previous.json")
