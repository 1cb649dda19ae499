"""Suppressions: inline `kguard.io/ignore` annotations and baseline files.

A suppressed finding keeps flowing to every report with `Finding.suppression` set; it only stops counting for
the exit code. Grammar of the annotation value (see docs/suppressions.md)::

    value   = entry *( NEWLINE entry )          ; blank lines and lines starting with '#' are ignored
    entry   = rules ":" reason *( ";" option )
    rules   = rule *( "," rule )                ; a rule id or a glob such as pss-*
    option  = "expires=" YYYY-MM-DD / "owner=" OWNER

The reason is required (it becomes the SARIF justification) and may contain commas but not ';'. From the day
after ``expires`` the entry no longer suppresses, and the finding's message says that it expired.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanner.config import SuppressionPolicy
from scanner.errors import UsageError
from scanner.model import Finding, InputError, Resource, ResourceId, ScanResult, Suppression, fingerprint

ANNOTATION = "kguard.io/ignore"
BASELINE_VERSION = 1
_RULE = re.compile(r"^[A-Za-z0-9*?\[\]][A-Za-z0-9_.*?/\[\]-]*$")


class SuppressionSyntaxError(ValueError):
    """An unusable `kguard.io/ignore` value."""


@dataclass(frozen=True, slots=True)
class IgnoreEntry:
    rules: tuple[str, ...]
    reason: str
    expires: dt.date | None = None
    owner: str | None = None

    def covers(self, rule_id: str) -> bool:
        return any(fnmatch.fnmatchcase(rule_id, pattern) for pattern in self.rules)

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and today > self.expires


def parse_ignore(value: str) -> list[IgnoreEntry]:
    """The entries of one annotation value; raises `SuppressionSyntaxError` with the reason."""
    entries = []
    for raw in str(value).splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        head, sep, rest = line.partition(":")
        if not sep:
            raise SuppressionSyntaxError(f"{line!r}: expected '<rule-id>: <reason>'")
        rules = tuple(r.strip() for r in head.split(","))
        if not all(_RULE.match(r) for r in rules):
            raise SuppressionSyntaxError(f"{head.strip()!r} is not a rule id or a comma-separated list of rule ids")
        reason, *options = (part.strip() for part in rest.split(";"))
        if not reason or re.match(r"(expires|owner)\s*=", reason):
            raise SuppressionSyntaxError(f"suppression of {', '.join(rules)} has no reason ('<rule-id>: <reason>')")
        entries.append(IgnoreEntry(rules=rules, reason=reason, **_options(options, rules)))
    if not entries:
        raise SuppressionSyntaxError("empty value: expected '<rule-id>: <reason>'")
    return entries


def _options(options: list[str], rules: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for option in options:
        key, sep, value = (p.strip() for p in option.partition("="))
        if not sep or key not in ("expires", "owner") or not value or key in out:
            raise SuppressionSyntaxError(f"suppression of {', '.join(rules)}: unknown or repeated option {option!r} "
                                         "(use 'expires=YYYY-MM-DD' or 'owner=@team')")
        if key == "expires":
            try:
                out[key] = dt.date.fromisoformat(value)
            except ValueError:
                raise SuppressionSyntaxError(f"expires={value!r} is not a date (YYYY-MM-DD)") from None
        else:
            out[key] = value
    return out


def _annotation(resource: Resource) -> str | None:
    annotations = resource.metadata.get("annotations")
    value = annotations.get(ANNOTATION) if isinstance(annotations, dict) else None
    return None if value is None else str(value)


def policy_problem(entry: IgnoreEntry, policy: SuppressionPolicy, today: dt.date) -> str | None:
    """Why an entry breaks the suppression policy (reason, expiry), or None."""
    if sum(ch.isalnum() for ch in entry.reason) < min(3, policy.min_reason_length) \
            or len(entry.reason) < policy.min_reason_length:
        return (f"the reason {entry.reason!r} is too short: say why in at least {policy.min_reason_length} "
                "characters (.kguard.yaml suppressions.minReasonLength)")
    if entry.expires is not None and (entry.expires - today).days > policy.max_expiry_days:
        return (f"expires={entry.expires.isoformat()} is more than {policy.max_expiry_days} days ahead "
                "(.kguard.yaml suppressions.maxExpiryDays)")
    return None


def refusal(entry: IgnoreEntry, finding: Finding, policy: SuppressionPolicy) -> str | None:
    """Why an entry that covers ``finding`` may not suppress it (severity caps), or None."""
    if finding.severity > policy.inline_max_severity:
        return (f"{ANNOTATION} may not suppress a {finding.severity.label} finding (.kguard.yaml "
                f"suppressions.inlineMaxSeverity: {policy.inline_max_severity.label}; use a baseline)")
    named = finding.rule_id in entry.rules
    if not named and finding.severity > policy.wildcard_max_severity:
        return (f"a wildcard in {ANNOTATION} may not suppress a {finding.severity.label} finding: name the rule "
                f"{finding.rule_id} (.kguard.yaml suppressions.wildcardMaxSeverity: "
                f"{policy.wildcard_max_severity.label})")
    return None


def apply_inline(findings: list[Finding], resources: Iterable[Resource], today: dt.date | None = None,
                 policy: SuppressionPolicy | None = None) -> tuple[list[Finding], list[InputError]]:
    """Mark findings covered by their object's annotation, within the suppression ``policy``.

    A malformed annotation, or an entry whose reason or expiry breaks the policy, is an InputError (file:line)
    and suppresses nothing; an entry that covers a finding above the policy's severity caps leaves it counted
    and says why in its message.
    """
    today = today or dt.date.today()
    policy = policy or SuppressionPolicy()
    by_occurrence: dict[str, list[IgnoreEntry]] = {}
    copies: dict[ResourceId, int] = {}
    by_identity: dict[ResourceId, list[IgnoreEntry]] = {}  # findings that do not say which copy (live audits)
    errors: list[InputError] = []
    annotated = [(resource, value) for resource in resources if (value := _annotation(resource)) is not None]
    if not annotated:  # nothing to suppress (most scans): every finding stays as it is
        return list(findings), errors
    for resource in resources:
        if resource.parent is None:
            copies[resource.identity] = copies.get(resource.identity, 0) + 1
    for resource, value in annotated:
        try:
            entries = parse_ignore(value)
            for entry in entries:
                problem = policy_problem(entry, policy, today)
                if problem:
                    raise SuppressionSyntaxError(f"suppression of {', '.join(entry.rules)}: {problem}")
            by_occurrence[resource.occurrence] = entries
            if copies.get(resource.identity) == 1:
                by_identity[resource.identity] = entries
        except SuppressionSyntaxError as exc:
            path, pos = resource.locate(("metadata", "annotations", ANNOTATION))
            errors.append(InputError(path=path, line=pos.line, message=f"{ANNOTATION} on "
                                     f"{resource.identity.display()}: {exc}"))
    out = []
    for finding in findings:
        # an annotation suppresses only on the copy of the object that carries it
        own = by_occurrence.get(finding.occurrence) if finding.occurrence else by_identity.get(finding.resource)
        covering = [e for e in own or () if e.covers(finding.rule_id)]
        refused = [why for e in covering if (why := refusal(e, finding, policy))]
        entries = [e for e in covering if not refusal(e, finding, policy)]
        if refused and not entries:
            finding = dataclasses.replace(finding, message=f"{finding.message} [not suppressed: {refused[0]}]")
        active = [e for e in entries if not e.expired(today)]
        if finding.suppression is None and active:
            entry = active[0]
            finding = dataclasses.replace(finding, suppression=Suppression(
                kind="inSource", justification=entry.reason, owner=entry.owner,
                expires=entry.expires.isoformat() if entry.expires else None))
        elif entries and not active:
            entry = entries[0]
            owner = f", owner {entry.owner}" if entry.owner else ""
            assert entry.expires is not None
            finding = dataclasses.replace(finding, message=(
                f"{finding.message} [{ANNOTATION} expired on {entry.expires.isoformat()}{owner}: {entry.reason}]"))
        out.append(finding)
    return out, errors


# ---------------------------------------------------------------------------------------------------------------
# Baselines


# kustomize's generators append a content hash (10 characters of this alphabet) to ConfigMap/Secret names
_GENERATED_HASH = re.compile(r"-[2456789bcdfghkmt]{10}$")


def baseline_resource(resource: ResourceId) -> ResourceId:
    """The identity a baseline keeps: a generated ConfigMap/Secret without its content-hash suffix, so editing
    one key of the generator does not make every finding on that object new."""
    if resource.kind in ("ConfigMap", "Secret") and _GENERATED_HASH.search(resource.name):
        return dataclasses.replace(resource, name=_GENERATED_HASH.sub("", resource.name))
    return resource


def finding_id(finding: Finding) -> str:
    """The baseline fingerprint: the finding's fingerprint, computed on `baseline_resource`."""
    resource = baseline_resource(finding.resource)
    if resource == finding.resource and finding.fingerprint:
        return finding.fingerprint
    constraint = finding.constraint.partition("/")[2]
    rule = finding.rule_id if not constraint or constraint == finding.rule_id else f"{finding.rule_id}/{constraint}"
    return fingerprint(rule, resource, finding.field_path, finding.message, finding.occurrence)


def baseline_entries(results: Iterable[ScanResult]) -> list[dict[str, str]]:
    """One entry per finding not already suppressed inline, sorted; identity is (run, fingerprint)."""
    entries = {}
    for result in results:
        for finding in result.findings:
            if finding.suppression is not None and finding.suppression.kind == "inSource":
                continue
            entry = {
                "run": result.category,
                "rule": finding.rule_id,
                "resource": baseline_resource(finding.resource).display(),
                "field": ".".join(str(p) for p in finding.field_path),
                "fingerprint": finding_id(finding),
            }
            entries[(entry["run"], entry["fingerprint"])] = entry
    return sorted(entries.values(), key=lambda e: (e["run"], e["rule"], e["resource"], e["field"], e["fingerprint"]))


def write_baseline(results: Iterable[ScanResult], path: Path) -> int:
    """Write the baseline file (deterministic JSON); returns the number of entries."""
    entries = baseline_entries(results)
    document = {"version": BASELINE_VERSION, "tool": "kguard", "findings": entries}
    from scanner.safe_files import write_file  # never through a link planted in the checkout

    write_file(path, json.dumps(document, indent=2, sort_keys=True) + "\n")
    return len(entries)


def load_baseline(path: Path) -> set[tuple[str, str]]:
    """(run, fingerprint) pairs of a baseline file; a missing run matches every run ("*")."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read baseline: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}:{exc.lineno}: baseline is not valid JSON: {exc.msg}") from None
    except (UnicodeDecodeError, ValueError) as exc:  # bad encoding, integers over Python's digit limit
        raise UsageError(f"{path}: baseline is not valid JSON: {exc}") from None
    findings = document.get("findings") if isinstance(document, dict) else None
    if not isinstance(document, dict) or document.get("version") != BASELINE_VERSION or not isinstance(findings, list):
        raise UsageError(f"{path}: not a kguard baseline (version {BASELINE_VERSION} with a `findings` list)")
    known = set()
    for entry in findings:
        if not isinstance(entry, dict) or not isinstance(entry.get("fingerprint"), str):
            raise UsageError(f"{path}: every baseline entry needs a `fingerprint`")
        known.add((str(entry.get("run", "*")), entry["fingerprint"]))
    return known


def apply_baseline(results: Iterable[ScanResult], known: set[tuple[str, str]], source: str) -> int:
    """Mark findings whose (run, fingerprint) is in ``known`` as suppressed (kind external); returns how many."""
    count = 0
    for result in results:
        marked = []
        for finding in result.findings:
            key = finding_id(finding)
            if finding.suppression is None and ((result.category, key) in known or ("*", key) in known):
                finding = dataclasses.replace(finding, suppression=Suppression(
                    kind="external", justification=f"known finding recorded in baseline {source}"))
                count += 1
                counted = result.settings.setdefault("suppressions", {})
                counted["baseline"] = counted.get("baseline", 0) + 1
            marked.append(finding)
        result.findings = marked
    return count
