"""Helpers shared by the report formats: ordering, rule lookup, field paths, paths as URIs, settings, safe text."""

from __future__ import annotations

import functools
import json
import os
import posixpath
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from scanner.engine.catalogue import Rule
from scanner.model import FieldPath, Finding, ScanResult, Severity, Suppression, fingerprint
from scanner.report.safe import safe_text

__all__ = ["safe_text"]  # re-exported: every format escapes shown text through this one helper

CATEGORY_ORDER = ("segmentation", "rbac", "pod-security")
CATEGORY_TITLES = {"segmentation": "Network segmentation", "rbac": "RBAC", "pod-security": "Pod security"}
SEVERITIES = tuple(sorted(Severity, reverse=True))  # critical first
PROJECT_URL = "https://github.com/kguard/kguard"
# Where a repository-relative help link (`docs/audit.md#drift-against-git`) is read: the project's main branch.
DOCS_BASE_URL = f"{PROJECT_URL}/blob/main/"
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:/")



def run_counts(result: ScanResult) -> list[int]:
    """A run's row of the grand total: unsuppressed findings per severity (`SEVERITIES` order), then suppressed
    findings, then input and policy errors."""
    active = [f for f in result.findings if not f.suppressed]
    return [*(sum(f.severity == s for f in active) for s in SEVERITIES), len(result.findings) - len(active),
            len(result.input_errors) + len(result.policy_errors)]


def input_counts(runs: Sequence[ScanResult]) -> list[tuple[str, int]]:
    """What was scanned, skipped, errored or left uncovered, as (label, count) rows in report order."""
    return [
        ("Files scanned", sum(len(r.scanned) for r in runs)),
        ("Resources evaluated", sum(r.resources for r in runs)),
        ("Skipped inputs", sum(len(r.skipped) for r in runs)),
        ("Not evaluated", sum(len(r.not_evaluated) for r in runs)),
        ("Input errors", sum(len(r.input_errors) for r in runs)),
        ("Policy errors", sum(len(r.policy_errors) for r in runs)),
        ("Coverage gaps", sum(len(r.coverage) for r in runs)),
    ]


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
        elif _PLAIN_KEY.fullmatch(part):
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


def help_url(url: str) -> str:
    """A rule's help link as an absolute http(s) URL, or "" when it has none.

    A repository-relative link (``docs/audit.md#drift-against-git``) resolves against `DOCS_BASE_URL`; a link
    with any other scheme (``javascript:``, ``file:``) is dropped: reports only link to web pages.
    """
    url = url.strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if not parts.scheme and not parts.netloc:
        return urljoin(DOCS_BASE_URL, url.lstrip("/"))
    return url if parts.scheme in ("http", "https") and parts.netloc else ""


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
    return _normalised(text)


@functools.lru_cache(maxsize=8192)
def _normalised(text: str) -> tuple[str, bool]:
    """A relative posix path normalised, and whether it stays inside (every finding of a file asks the same)."""
    text = posixpath.normpath(text) if text else "."
    return text, not (text == ".." or text.startswith("../"))


def working_tree(cwd: str | None = None) -> Path:
    """What finding paths are relative to (`scanner.load.files.display_path`): the git work tree containing ``cwd``
    (default: the current directory), else ``cwd`` itself."""
    from scanner.load.files import repo_root

    cwd = cwd or os.getcwd()
    return repo_root(cwd) or Path(cwd)


def terminal_path(path: str) -> str:
    """A finding's path as terminal and --quiet output show it: relative to the current directory, as linters print
    paths (``path`` is repository-relative, as findings and SARIF carry it). `<stdin>`, absolute paths and names
    that are no file in the repository (live-audit objects `cluster/...`) are shown unchanged."""
    return _from_cwd(path, os.getcwd())


@functools.lru_cache(maxsize=8192)
def _from_cwd(path: str, cwd: str) -> str:
    if not path or path.startswith("<") or posixpath.isabs(path) or _WINDOWS_DRIVE.match(path):
        return path
    base = working_tree(cwd)
    target = base / path
    if base == Path(cwd) or not (target.exists() or target.is_symlink()):
        return path
    return Path(os.path.relpath(target, cwd)).as_posix()


def path_to_uri(path: str) -> str:
    """Percent-encode a relative posix path for use as a URI reference (``:`` and spaces included)."""
    return quote(path, safe="/")


SUPPRESSION_KINDS = {"inSource": "annotation", "external": "baseline"}  # Suppression.kind as the reports name it
PROBLEM_KINDS = ("input error", "policy error", "not evaluated", "skipped", "coverage gap")  # in report order


def suppression_note(sup: Suppression) -> tuple[str, str]:
    """How a finding is suppressed (``annotation, owner team, expires 2027-01-31``) and why (raw texts)."""
    extra = "".join(f", {label} {value}" for label, value in (("owner", sup.owner), ("expires", sup.expires))
                    if value)
    return f"{SUPPRESSION_KINDS.get(sup.kind, sup.kind)}{extra}", sup.justification or "no justification given"


def problem_rows(result: ScanResult, shown_path: Callable[[str], str] = str) -> list[tuple[str, str]]:
    """What was not scanned or not evaluated, as (`PROBLEM_KINDS` entry, raw text) rows: input errors, policy
    errors, objects not evaluated, skipped inputs and coverage gaps, each kind sorted; paths through ``shown_path``."""

    def where(path: str, line: int | None) -> str:
        return f"{shown_path(path)}:{line}" if line else shown_path(path)

    rows = [("input error", f"{where(e.path, e.line)}: {e.message}")
            for e in sorted(result.input_errors, key=lambda e: (e.path, e.line or 0, e.message))]
    rows += [("policy error", f"{e.policy}: {e.message}")
             for e in sorted(result.policy_errors, key=lambda e: (e.policy, e.message))]
    for kind, items in (("not evaluated", result.not_evaluated), ("skipped", result.skipped)):
        rows += [(kind, f"{where(s.path, s.line)}: {s.reason}")
                 for s in sorted(items, key=lambda s: (s.path, s.line or 0, s.reason))]
    rows += [("coverage gap", text) for text in sorted(coverage_text(gap) for gap in result.coverage)]
    return rows


def coverage_text(entry: dict[str, Any]) -> str:
    """One line for a coverage gap: its ``message`` (or ``reason``), else its items in key order."""
    for key in ("message", "reason"):
        if entry.get(key):
            rest = {k: v for k, v in entry.items() if k != key}
            detail = ", ".join(f"{k}={rest[k]}" for k in sorted(rest))
            return f"{entry[key]} ({detail})" if detail else str(entry[key])
    return ", ".join(f"{k}={entry[k]}" for k in sorted(entry)) or "coverage gap"


def merged_settings(runs: Sequence[ScanResult]) -> dict[str, Any]:
    """The settings of several runs as one mapping: a value all runs share as it is, suppression counts summed,
    anything else that differs as ``{"per_run": {run: value}}``."""
    known = ("policies", "config", "suppressions")
    keys = sorted({key for r in runs for key in r.settings}, key=lambda k: (k not in known, known.index(k)
                                                                            if k in known else 0, str(k)))
    out: dict[str, Any] = {}
    for key in keys:
        values = [r.settings.get(key) for r in runs]
        if all(v == values[0] for v in values):
            out[key] = values[0]
        elif key == "suppressions" and all(_int_mapping(v) for v in values):
            counts: dict[str, int] = {}
            for value in values:
                for name, count in value.items():
                    counts[name] = counts.get(name, 0) + count
            out[key] = counts
        else:
            out[key] = {"per_run": {r.category: r.settings.get(key) for r in runs}}
    return out


def _int_mapping(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, int) and not isinstance(v, bool) for v in value.values())


def settings_rows(settings: dict[str, Any]) -> list[tuple[str, str]]:
    """What a scan ran with, as (label, text) rows for the human formats: policies, configuration, suppressions.

    Missing parts read "not recorded"; the texts are raw (callers escape them with `safe_text`).
    """
    policies = settings.get("policies")
    if isinstance(policies, dict) and policies:
        source = str(policies.get("source") or "unknown source")
        digest = str(policies.get("sha256") or "")
        policy_text = f"{source} (sha256 {digest})" if digest else source
    else:
        policy_text = "not recorded"
    config = settings.get("config")
    if isinstance(config, dict) and config:
        items = [f"{key}={value}" for key, value in _flatten({k: v for k, v in config.items() if k != "source"})]
        config_text = str(config.get("source") or "unknown source")
        if items:
            config_text += ": " + ", ".join(items)
    else:
        config_text = "not recorded"
    sups = settings.get("suppressions")
    if isinstance(sups, dict) and sups:
        labels = {"inline": "inline (annotations)", "baseline": "baseline"}
        sup_text = ", ".join(f"{sups[key]} {labels.get(key, key)}" for key in sorted(sups, key=_suppression_order))
    else:
        sup_text = "not recorded"
    rows = [("policies", policy_text), ("configuration", config_text), ("suppressions", sup_text)]
    known = {"policies", "config", "suppressions"}
    for key in sorted(settings, key=str):
        if key not in known:
            value = settings[key]
            text = ", ".join(f"{k}={v}" for k, v in _flatten(value)) if isinstance(value, dict) else str(value)
            rows.append((str(key), text or "none"))
    return rows


def _suppression_order(key: str) -> tuple[int, str]:
    return (0 if key == "inline" else 1 if key == "baseline" else 2), key


def _flatten(value: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested settings as ``dotted.key -> text`` pairs in the given order (lists comma-joined, None = default)."""
    out: list[tuple[str, str]] = []
    for key, item in value.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(item, dict) and item:
            out.extend(_flatten(item, name))
        elif isinstance(item, list | tuple):
            out.append((name, ",".join(str(v) for v in item) if item else "none"))
        elif item is None or item == {}:
            out.append((name, "default" if item is None else "none"))
        else:
            out.append((name, str(item)))
    return out
