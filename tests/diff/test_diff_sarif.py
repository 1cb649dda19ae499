"""`kguard diff --format sarif`: every result carries its baselineState (new, absent, unchanged), absent results
come from the base revision, and the log passes the SARIF Multitool with only the accepted advisory notes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from scanner.cli import app
from tests.diff.scratch import FILES, PRIVILEGED_PATCH, commit, line_of, make_repo
from tests.report.test_sarif_multitool import _unexpected, require_multitool, validate

SARIF_SCHEMA = Path(__file__).resolve().parents[1] / "report" / "schemas" / "sarif-2.1.0-rtm.5.json"

pytestmark = pytest.mark.integration


def _sarif(root: Path, base: str, head: str) -> tuple[int, dict]:
    before = Path.cwd()
    os.chdir(root)
    try:
        result = CliRunner().invoke(app, ["diff", base, head, "-f", "sarif"])
    finally:
        os.chdir(before)
    return result.exit_code, json.loads(result.stdout)


def _states(log: dict) -> dict[tuple[str, str, str, int], str]:
    out = {}
    for run in log["runs"]:
        for res in run["results"]:
            where = res["locations"][0]["physicalLocation"]
            out[(run["automationDetails"]["id"], res["ruleId"], where["artifactLocation"]["uri"],
                 where["region"]["startLine"])] = res["baselineState"]
    return out


def test_baseline_state_and_multitool(tmp_path: Path) -> None:
    tool = require_multitool()
    root = tmp_path / "repo"
    initial = make_repo(root)
    privileged = commit(root, {"apps/overlays/staging/privileged.yaml": PRIVILEGED_PATCH,
                               "apps/overlays/staging/kustomization.yaml":
                                   FILES["apps/overlays/staging/kustomization.yaml"]
                                   + "patches:\n  - path: privileged.yaml\n"}, "privileged")
    line = line_of(PRIVILEGED_PATCH, "privileged: true")
    key = ("kguard/apps/overlays/staging/", "pss-privileged", "apps/overlays/staging/privileged.yaml", line)
    for base, head, state, code in ((initial, privileged, "new", 1), (privileged, initial, "absent", 0)):
        exit_code, log = _sarif(root, base, head)
        assert exit_code == code
        states = _states(log)
        assert states.pop(key) == state
        assert states and set(states.values()) == {"unchanged"}  # everything else is existing debt
        target = tmp_path / f"{state}.sarif"
        target.write_text(json.dumps(log), encoding="utf-8")
        assert not _unexpected(validate(tool, target))


def test_schema_checks_baseline_state(tmp_path: Path) -> None:
    """The SARIF 2.1.0 schema accepts the diff's log and rejects a baselineState outside its enum (the multitool
    does not check that enum, so this is what can fail on a wrong state name)."""
    validator = jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text()))
    root = tmp_path / "repo"
    initial = make_repo(root)
    _, log = _sarif(root, initial, initial)
    assert {r["baselineState"] for run in log["runs"] for r in run["results"]} == {"unchanged"}
    validator.validate(log)
    log["runs"][0]["results"][0]["baselineState"] = "fixed"
    with pytest.raises(jsonschema.ValidationError, match="fixed"):
        validator.validate(log)
