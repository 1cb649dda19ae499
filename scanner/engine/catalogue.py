"""The policy catalogue: `policies/<category>/<policy>/{policy.rego,metadata.yaml}` and `policies/lib/*.rego`.

A `Policy` is the source of truth for one rule; it converts to a Gatekeeper ConstraintTemplate and Constraint
(`to_template`, `to_constraints`) so that the scanner and the cluster run the same Rego.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from scanner import user_cache
from scanner.errors import UsageError
from scanner.model import Severity
from scanner.workloads import match_kinds

if TYPE_CHECKING:
    from scanner.config import PodSecurityConfig

CATEGORIES = ("pod-security", "rbac", "segmentation")
SECURITY_SEVERITY = {  # SARIF properties.security-severity (GitHub buckets: >9 critical, 7-8.9 high, ...)
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "1.0",
}
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: start-up matters
METADATA = "policy-metadata"  # user cache namespace: the shipped library's metadata, parsed
METADATA_FORMAT = "kguard policy metadata 1"
_LIB_IMPORT = re.compile(r"^\s*import\s+data\.lib\.([A-Za-z0-9_]+)", re.MULTILINE)
_PACKAGE = re.compile(r"^\s*package\s+([A-Za-z0-9_.]+)", re.MULTILINE)

PSS_LABEL = "pod-security.kubernetes.io/enforce"
PSS_LEVELS = ("privileged", "baseline", "restricted")
# Every kind that carries a pod spec upstream Pod Security judges (its PodSpecExtractor), plus Argo Rollouts, by API
# group (scanner/workloads.py); `extensions` still appears in public manifests for Deployments, DaemonSets, ReplicaSets.
POD_SECURITY_KINDS: tuple[dict[str, list[str]], ...] = match_kinds()


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """What a report says about a rule (one per policy or per extra template)."""

    id: str
    kind: str
    title: str
    description: str
    severity: Severity
    category: str
    tags: tuple[str, ...]
    remediation: str
    help_url: str
    pss_level: str | None = None
    pss_check: tuple[str, ...] = ()
    pss_overrides: tuple[str, ...] = ()  # baseline check ids this restricted check replaces (upstream semantics)
    # a restricted check's violation flagged `details.violates_baseline` is reported at least at this severity
    # (the overridden baseline rule's): the harm decides the severity, not the check that reports it
    baseline_severity: Severity | None = None
    source: str = ""  # where the rule is defined (repo-relative path)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "category": self.category,
            "severity": self.severity.label,
            "tags": list(self.tags),
            "description": self.description,
            "remediation": self.remediation,
            "help_url": self.help_url,
        }
        if self.pss_level:
            data["pss_level"] = self.pss_level
            data["pss_check"] = list(self.pss_check)
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    rule: Rule
    rego: str
    libs: tuple[str, ...]
    parameters_schema: dict[str, Any] | None
    constraint: dict[str, Any]
    sync: tuple[dict[str, str], ...]
    directory: Path
    metadata: dict[str, Any] = field(default_factory=dict)
    pss_overridden: bool = False  # a baseline check that a restricted check of the catalogue replaces at restricted
    bundled: bool = False  # from the library kguard ships (`default_policy_dir`), not a --policy-dir of someone's

    def to_template(self) -> dict[str, Any]:
        """The Gatekeeper ConstraintTemplate (Rego v1 through `code`)."""
        kind = self.rule.kind
        annotations = {
            "metadata.gatekeeper.sh/title": self.rule.title,
            "metadata.gatekeeper.sh/version": "1.0.0",
            "description": self.rule.description,
            "kguard.io/rule-id": self.rule.id,
            "kguard.io/severity": self.rule.severity.label,
            "kguard.io/category": self.rule.category,
            "kguard.io/tags": ",".join(self.rule.tags),
            "kguard.io/remediation": self.rule.remediation,
        }
        if self.rule.help_url:
            annotations["kguard.io/help-url"] = self.rule.help_url
        if self.rule.pss_level:
            annotations["kguard.io/pss-level"] = self.rule.pss_level
            annotations["kguard.io/pss-check"] = ",".join(self.rule.pss_check)
        if self.rule.baseline_severity is not None:
            annotations["kguard.io/baseline-severity"] = self.rule.baseline_severity.label
        if self.sync:
            annotations["metadata.gatekeeper.sh/requires-sync-data"] = _sync_annotation(self.sync)
        crd_spec: dict[str, Any] = {"names": {"kind": kind}}
        if self.parameters_schema:
            crd_spec["validation"] = {"openAPIV3Schema": self.parameters_schema}
        source: dict[str, Any] = {"version": "v1", "rego": self.rego}
        if self.libs:
            source["libs"] = list(self.libs)
        return {
            "apiVersion": "templates.gatekeeper.sh/v1",
            "kind": "ConstraintTemplate",
            "metadata": {"name": kind.lower(), "annotations": annotations},
            "spec": {
                "crd": {"spec": crd_spec},
                "targets": [{"target": "admission.k8s.gatekeeper.sh", "code": [{"engine": "Rego", "source": source}]}],
            },
        }

    def to_constraints(self, pod_security: PodSecurityConfig | None = None) -> list[dict[str, Any]]:
        """The Constraints of this policy: one, or two where a level set needs a disjunction (see pss_selectors).

        Pod Security policies get their match generated here: the workload kinds, a namespaceSelector on the
        namespace's enforce label that encodes upstream's level semantics and overrides, and the configured
        exempt namespaces as excludedNamespaces. Nothing else is excluded implicitly.
        """
        spec: dict[str, Any] = {}
        action = self.constraint.get("enforcementAction")
        if action:
            spec["enforcementAction"] = action
        if self.constraint.get("match"):
            spec["match"] = self.constraint["match"]
        if self.constraint.get("parameters"):
            spec["parameters"] = self.constraint["parameters"]
        if not self.rule.pss_level:
            return [_constraint_document(self.rule, self.rule.id, spec)]
        default_level = pod_security.default_level if pod_security else "restricted"
        exempt = list(pod_security.exempt_namespaces) if pod_security else []
        out = []
        selectors = pss_selectors(_pss_levels_applied(self.rule.pss_level, self.pss_overridden), default_level)
        for suffix, selector in selectors:
            match: dict[str, Any] = {"kinds": [dict(k) for k in POD_SECURITY_KINDS], "namespaceSelector": selector}
            if exempt:
                match["excludedNamespaces"] = exempt
            out.append(_constraint_document(self.rule, self.rule.id + suffix, {**spec, "match": match}))
        return out


def _constraint_document(rule: Rule, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": rule.kind, "metadata": {"name": name},
            "spec": spec}


def _pss_levels_applied(policy_level: str, overridden: bool) -> frozenset[str]:
    """Namespace levels at which a check runs: its own and stricter ones, except where a restricted check of the
    catalogue replaces it (upstream's OverrideCheckIDs)."""
    levels = frozenset(PSS_LEVELS[PSS_LEVELS.index(policy_level):])
    return levels - {"restricted"} if overridden else levels


def pss_selectors(levels: frozenset[str], default_level: str) -> list[tuple[str, dict[str, Any]]]:
    """namespaceSelectors (with a constraint-name suffix) that select exactly the namespaces whose Pod Security
    level is in ``levels``.

    A namespace's level is its `pod-security.kubernetes.io/enforce` label; without the label it is
    ``default_level``; an invalid value counts as restricted (upstream's ParseLevel). matchExpressions are ANDed,
    so the one set no single selector can express (unlabelled or `baseline`, but not an invalid value) takes two
    constraints, one per disjunct.
    """
    others = sorted((set(PSS_LEVELS) - levels), key=PSS_LEVELS.index)
    not_in = {"key": PSS_LABEL, "operator": "NotIn", "values": others}
    if "restricted" in levels:  # invalid values are restricted, so "not one of the other levels" is exact
        if default_level in levels:
            return [("", {"matchExpressions": [not_in]})]
        return [("", {"matchExpressions": [{"key": PSS_LABEL, "operator": "Exists"}, not_in]})]
    listed = {"key": PSS_LABEL, "operator": "In", "values": sorted(levels, key=PSS_LEVELS.index)}
    if default_level not in levels:
        return [("", {"matchExpressions": [listed]})]
    return [("", {"matchExpressions": [listed]}),
            ("-unlabelled", {"matchExpressions": [{"key": PSS_LABEL, "operator": "DoesNotExist"}]})]


def _sync_annotation(sync: tuple[dict[str, str], ...]) -> str:
    # Gatekeeper's format: a list of requirements that must all be met, each a list of equivalent clauses (any one
    # meets it); every `sync:` entry is needed, so each is a requirement of its own
    return json.dumps([[{"groups": [s.get("group", "")], "versions": [s["version"]], "kinds": [s["kind"]]}]
                       for s in sync])


def package_of(rego: str) -> str:
    match = _PACKAGE.search(rego)
    if not match:
        raise ValueError("Rego module has no package declaration")
    return match.group(1)


def load_libs(policy_dir: Path) -> dict[str, str]:
    """`policies/lib/<name>.rego` by lib name (`data.lib.<name>`)."""
    lib_dir = policy_dir / "lib"
    if not lib_dir.is_dir():
        return {}
    return {p.stem: p.read_text() for p in sorted(lib_dir.glob("*.rego")) if not p.name.endswith("_test.rego")}


def _needed_libs(rego: str, libs: dict[str, str]) -> list[str]:
    """Libs imported by ``rego``, transitively, in a stable order."""
    seen: list[str] = []
    todo = _LIB_IMPORT.findall(rego)
    while todo:
        name = todo.pop(0)
        if name in seen or name not in libs:
            continue
        seen.append(name)
        todo.extend(_lib_imports(libs[name]))
    return sorted(seen)


@functools.lru_cache(maxsize=256)
def _lib_imports(text: str) -> list[str]:
    """The libs a lib's ``text`` imports (every policy of the library asks again for the same few libs)."""
    return _LIB_IMPORT.findall(text)


def read_metadata(directories: list[Path], remember: bool = False) -> list[Any]:
    """The parsed `metadata.yaml` of each policy directory. ``remember`` (the library kguard ships): the parse of
    these exact texts is kept in the user cache as JSON (when JSON holds it exactly), so that the pre-commit hook
    does not run YAML over every policy's metadata on each commit."""
    texts = []
    for directory in directories:
        try:
            texts.append((directory / "metadata.yaml").read_text())
        except OSError as exc:
            raise UsageError(f"{directory / 'metadata.yaml'}: cannot read policy: {exc}") from None
    entry = user_cache.key(METADATA_FORMAT, yaml.__version__, *texts) if remember else None
    cached = user_cache.get(METADATA, entry) if entry else None
    if cached is not None:
        return json.loads(cached)
    metas = []
    for directory, text in zip(directories, texts, strict=True):
        try:
            metas.append(yaml.load(text, Loader=_YamlLoader))
        except yaml.YAMLError as exc:
            raise UsageError(f"{directory / 'metadata.yaml'}: cannot read policy: {exc}") from None
    if entry:
        try:
            encoded = json.dumps(metas)
        except (TypeError, ValueError):  # a date or another value JSON has no word for: parsed on every run
            return metas
        if json.loads(encoded) == metas:
            user_cache.put(METADATA, entry, encoded.encode())
    return metas


def load_policy(directory: Path, libs: dict[str, str], root: Path, meta: Any) -> Policy:
    """The policy in ``directory`` whose `metadata.yaml` parsed to ``meta``."""
    meta_path = directory / "metadata.yaml"
    try:
        rego = (directory / "policy.rego").read_text()
    except OSError as exc:
        raise UsageError(f"{meta_path}: cannot read policy: {exc}") from None
    if not isinstance(meta, dict):
        raise UsageError(f"{meta_path}: metadata must be a mapping")
    try:
        category = meta["category"]
        if category not in CATEGORIES:
            raise ValueError(f"category must be one of {', '.join(CATEGORIES)}")
        tags = [category, *[t for t in meta.get("tags", []) if t != category]]
        pss = meta.get("pss") or {}
        check = pss.get("check", ())
        rule = Rule(
            id=meta["id"],
            kind=meta["kind"],
            title=meta["title"],
            description=" ".join(str(meta["description"]).split()),
            severity=Severity.parse(meta["severity"]),
            category=category,
            tags=tuple(tags[:10]),
            remediation=" ".join(str(meta["remediation"]).split()),
            help_url=meta.get("help_url", ""),
            pss_level=pss.get("level"),
            pss_check=(check,) if isinstance(check, str) else tuple(check),
            pss_overrides=tuple(pss.get("overrides") or ()),
            source=_relative(directory / "metadata.yaml", root),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise UsageError(f"{meta_path}: invalid policy metadata: {exc}") from None
    if rule.pss_level is not None:
        if rule.pss_level not in PSS_LEVELS[1:]:
            raise UsageError(f"{meta_path}: pss.level must be baseline or restricted")
        if (meta.get("constraint") or {}).get("match"):
            raise UsageError(f"{meta_path}: a Pod Security policy's constraint match is generated (workload kinds, "
                             "namespace level selector, .kguard.yaml exemptions); remove constraint.match")
    return Policy(
        rule=rule,
        rego=rego,
        libs=tuple(libs[name] for name in _needed_libs(rego, libs)),
        parameters_schema=meta.get("parameters"),
        constraint=meta.get("constraint") or {},
        sync=tuple(meta.get("sync") or ()),
        directory=directory,
        metadata=meta,
    )


def load_catalogue(policy_dir: Path) -> list[Policy]:
    """Every policy below ``policy_dir``, sorted by rule id; duplicate ids or kinds are an error."""
    if not policy_dir.is_dir():
        raise UsageError(f"{policy_dir}: policy directory not found")
    libs = load_libs(policy_dir)
    bundled = policy_dir.resolve() == default_policy_dir().resolve()
    directories = [m.parent for m in sorted(policy_dir.glob("*/*/metadata.yaml"))]
    policies = [replace(load_policy(directory, libs, policy_dir.parent, meta), bundled=bundled)
                for directory, meta in zip(directories, read_metadata(directories, remember=bundled), strict=True)]
    if not policies:  # an empty library would evaluate nothing and pass every input
        raise UsageError(f"{policy_dir}: no policies found (expected <category>/<policy>/metadata.yaml)")
    seen: dict[str, Path] = {}
    for policy in policies:
        for key in (policy.rule.id, policy.rule.kind):
            if key in seen:
                raise UsageError(f"{policy.directory}: duplicate rule id or kind {key!r} (also in {seen[key]})")
            seen[key] = policy.directory
    return sorted(_link_pss_overrides(policies), key=lambda p: p.rule.id)


def _link_pss_overrides(policies: list[Policy]) -> list[Policy]:
    """Mark baseline checks that a restricted check replaces, and give that restricted check the severity floor of
    the baseline rules it replaces."""
    by_check = {check: p for p in policies if p.rule.pss_level == "baseline" for check in p.rule.pss_check}
    overridden = _overridden_checks(policies)
    out = []
    for policy in policies:
        rule = policy.rule
        policy = replace(policy, pss_overridden=_replaced(rule, overridden))
        replaced = [by_check[c].rule.severity for c in rule.pss_overrides if c in by_check]
        if replaced:
            policy = replace(policy, rule=replace(rule, baseline_severity=max(replaced)))
        out.append(policy)
    return out


def select_policies(policies: list[Policy], keep: Callable[[Rule], bool]) -> list[Policy]:
    """The policies whose rule ``keep`` selects (--select/--ignore), linked anew: a baseline check stays replaced at
    restricted only while a selected restricted check replaces it, so ignoring that restricted check brings the
    baseline check back instead of leaving restricted namespaces unchecked. Severity floors are left as they are."""
    kept = [policy for policy in policies if keep(policy.rule)]
    overridden = _overridden_checks(kept)
    return [replace(policy, pss_overridden=_replaced(policy.rule, overridden)) for policy in kept]


def _overridden_checks(policies: list[Policy]) -> set[str]:
    """The baseline check ids the restricted policies among ``policies`` replace (upstream's OverrideCheckIDs)."""
    return {check for p in policies if p.rule.pss_level == "restricted" for check in p.rule.pss_overrides}


def _replaced(rule: Rule, overridden: set[str]) -> bool:
    return rule.pss_level == "baseline" and bool(rule.pss_check) and set(rule.pss_check) <= overridden


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def default_policy_dir() -> Path:
    """The policy library kguard ships with: the bundled copy in an installed wheel, else (editable install) the
    repository next to the package. Never a `policies/` found in the scanned tree: in CI the pull request writes
    that tree, so only --policy-dir (given by whoever runs kguard) selects another library."""
    bundled = Path(__file__).resolve().parent.parent / "_bundled" / "policies"
    if bundled.is_dir():
        return bundled
    return Path(__file__).resolve().parents[2] / "policies"


def library_digest(policy_dir: Path) -> str:
    """sha256 over every file of a policy library (relative path and content, sorted by path components): names the
    exact policies a report was produced with. Files in `__pycache__` are left out; linked directories are not
    followed, linked files are read."""
    digest = hashlib.sha256()
    for relative, path in sorted(_library_files(str(policy_dir), ()), key=lambda item: item[0]):
        digest.update("/".join(relative).encode() + b"\0")
        digest.update(hashlib.sha256(_read(path)).digest())
    return digest.hexdigest()


def _read(path: str) -> bytes:
    """A file's bytes with plain system calls: for the ~450 files of the library on every run, Python's buffered
    file objects cost twice as much (the pre-commit hook: 3.6 against 6 ms)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _library_files(directory: str, relative: tuple[str, ...]) -> list[tuple[tuple[str, ...], str]]:
    """(path components below the library, path) of every file under ``directory`` (os.scandir: the pre-commit hook
    digests some 450 files on every run)."""
    found: list[tuple[tuple[str, ...], str]] = []
    try:
        with os.scandir(directory) as entries:
            listed = list(entries)
    except PermissionError:  # an unreadable directory holds nothing the scan reads either
        return found
    for entry in listed:
        if entry.name == "__pycache__":
            continue
        if entry.is_dir(follow_symlinks=False):
            found += _library_files(entry.path, (*relative, entry.name))
        elif entry.is_file():
            found.append(((*relative, entry.name), entry.path))
    return found
