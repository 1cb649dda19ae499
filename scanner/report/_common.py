"""Helpers shared by the report formats: ordering, rule lookup, field paths, paths as URIs."""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from scanner.engine.catalogue import Rule
from scanner.model import FieldPath, Finding, ScanResult, Severity, fingerprint

CATEGORY_ORDER = ("segmentation", "rbac", "pod-security")
CATEGORY_TITLES = {"segmentation": "Network segmentation", "rbac": "RBAC", "pod-security": "Pod security"}
SEVERITIES = tuple(sorted(Severity, reverse=True))  # critical first
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:/")


def as_results(results: ScanResult | Sequence[ScanResult]) -> list[ScanResult]:
    """One or several results as a list (several = one run per Kustomize overlay or cluster)."""
    if isinstance(results, ScanResult):
        return [results]
    out = list(results)
    if not out:
        raise ValueError("no scan result to report")
    return out


def category_key(category: str) -> tuple[int, str]:
    """Sort key: the known categories in report order, then any other alphabetically."""
    index = CATEGORY_ORDER.index(category) if category in CATEGORY_ORDER else len(CATEGORY_ORDER)
    return index, category


def category_title(category: str) -> str:
    return CATEGORY_TITLES.get(category, category)


def format_field_path(path: FieldPath) -> str:
    """`spec.containers[0].securityContext` style; keys that are not plain identifiers are quoted."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


def finding_fingerprint(finding: Finding) -> str:
    """The finding's fingerprint, computed the model's way when the engine left it empty."""
    return finding.fingerprint or fingerprint(finding.rule_id, finding.resource, finding.field_path, finding.message)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Report order: file, line, column, rule, then fingerprint and message as tie-breakers."""
    return sorted(findings, key=lambda f: (*f.sort_key(), finding_fingerprint(f)))


def report_rules(result: ScanResult) -> list[Rule]:
    """The rules of a result sorted by id, plus a stand-in for any finding whose rule the catalogue lacks."""
    rules: dict[str, Rule] = {}
    for rule in result.rules:
        rules.setdefault(rule.id, rule)
    for finding in sort_findings(result.findings):
        if finding.rule_id not in rules:
            rules[finding.rule_id] = _stand_in_rule(finding.rule_id, result.findings)
    return [rules[key] for key in sorted(rules)]


def _stand_in_rule(rule_id: str, findings: Iterable[Finding]) -> Rule:
    mine = [f for f in findings if f.rule_id == rule_id]
    category = min((f.category for f in mine), key=category_key)
    kind = "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", rule_id) if part) or "Rule"
    return Rule(
        id=rule_id,
        kind=kind,
        title=rule_id,
        description=f"Findings of {rule_id}, a policy without a catalogue entry (e.g. from --templates).",
        severity=max(f.severity for f in mine),
        category=category,
        tags=(category,),
        remediation="",
        help_url="",
    )


def remediation_for(finding: Finding, rules: dict[str, Rule]) -> str:
    """The finding's own remediation, else its rule's."""
    if finding.remediation:
        return finding.remediation
    rule = rules.get(finding.rule_id)
    return rule.remediation if rule else ""


def sentence(text: str) -> str:
    """``text`` stripped and ending with a full stop (unless it already ends a sentence)."""
    text = text.strip()
    return text if not text or text[-1] in ".!?" else f"{text}."


def relative_posix_path(path: str, source_root: Path | None = None) -> tuple[str, bool]:
    """A repository-relative posix path for ``path`` and whether it lies inside the source root.

    Relative paths are only normalised; absolute ones are made relative to ``source_root`` (default: the current
    directory). A path outside the root comes back with leading ``..`` segments and ``False``.
    """
    text = path.replace("\\", "/")
    if text.startswith("/") or _WINDOWS_DRIVE.match(text):
        root = (source_root or Path.cwd()).resolve().as_posix()
        try:
            text = PurePosixPath(text).relative_to(root).as_posix()
        except ValueError:
            if _WINDOWS_DRIVE.match(text):  # another drive: no relative form exists
                return posixpath.normpath(text), False
            return posixpath.relpath(posixpath.normpath(text), root), False
    text = posixpath.normpath(text) if text else "."
    return text, not (text == ".." or text.startswith("../"))


def path_to_uri(path: str) -> str:
    """Percent-encode a relative posix path for use as a URI reference (``:`` and spaces included)."""
    return quote(path, safe="/")


def coverage_text(entry: dict[str, Any]) -> str:
    """One line for a coverage gap: its ``message`` (or ``reason``), else its items in key order."""
    for key in ("message", "reason"):
        if entry.get(key):
            rest = {k: v for k, v in entry.items() if k != key}
            detail = ", ".join(f"{k}={rest[k]}" for k in sorted(rest))
            return f"{entry[key]} ({detail})" if detail else str(entry[key])
    return ", ".join(f"{k}={entry[k]}" for k in sorted(entry)) or "coverage gap"
