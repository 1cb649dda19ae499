"""Every rule's help link is an absolute web URL; links into this repository's docs name a file and a heading that
exist (SARIF1002: `helpUri` must be absolute; a broken anchor lands the reader at the top of a long page)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from scanner.analysis import analysis_rules
from scanner.drift import RULES as DRIFT_RULES
from scanner.engine.catalogue import Rule, default_policy_dir, load_catalogue
from scanner.report._common import DOCS_BASE_URL, help_url

REPO = Path(__file__).resolve().parents[2]


def _all_rules() -> list[Rule]:
    return [*(p.rule for p in load_catalogue(default_policy_dir())), *analysis_rules(), *DRIFT_RULES.values()]


def _github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a file's headings: lower case, punctuation dropped, spaces to hyphens."""
    anchors = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", markdown, re.MULTILINE):
        text = re.sub(r"[^\w\- ]", "", heading.lower())
        anchors.add(text.replace(" ", "-"))
    return anchors


@pytest.mark.parametrize(("url", "expected"), [
    ("docs/audit.md#drift-against-git", f"{DOCS_BASE_URL}docs/audit.md#drift-against-git"),
    ("/docs/audit.md", f"{DOCS_BASE_URL}docs/audit.md"),
    ("https://kubernetes.io/docs/x/", "https://kubernetes.io/docs/x/"),
    ("javascript:alert(1)", ""),
    ("file:///etc/passwd", ""),
    ("", ""),
])
def test_help_url(url: str, expected: str) -> None:
    assert help_url(url) == expected


def test_every_rule_links_to_an_existing_page() -> None:
    rules = _all_rules()
    assert {"drift-missing-in-git", "drift-gatekeeper-template", "pss-privileged"} <= {r.id for r in rules}
    for rule in rules:
        url = help_url(rule.help_url)
        assert url, f"{rule.id} has no help link"
        parts = urlsplit(url)
        assert parts.scheme == "https" and parts.netloc, (rule.id, url)
        if not url.startswith(DOCS_BASE_URL):
            continue
        page = REPO / unquote(parts.path.removeprefix(urlsplit(DOCS_BASE_URL).path))
        assert page.is_file(), (rule.id, url)
        if parts.fragment:
            assert parts.fragment in _github_anchors(page.read_text(encoding="utf-8")), (rule.id, url)


def test_anchor_check_can_fail() -> None:
    anchors = _github_anchors((REPO / "docs" / "audit.md").read_text(encoding="utf-8"))
    assert "drift-against-git" in anchors and "drift" not in anchors
