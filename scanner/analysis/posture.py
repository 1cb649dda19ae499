"""Input posture: what in the scanned input itself weakens the gate.

- `pss-namespace-level-lowered`: a Namespace whose `pod-security.kubernetes.io/enforce` label puts it below the
  default level (`.kguard.yaml` podSecurity.defaultLevel / --pss-level). One label relaxes every Pod Security check
  for its workloads, so the label is itself a finding; a deliberate exception is suppressed on the Namespace with
  a reason (`kguard.io/ignore`), like any other finding.
- `input-duplicate-object`: two objects with the same API group, kind, namespace and name. Both are judged, but
  `kubectl apply` keeps only one of them, so the reviewer must know which copies exist.
"""

from __future__ import annotations

from collections.abc import Sequence

from scanner.analysis.context import AnalysisContext
from scanner.engine.catalogue import PSS_LABEL, PSS_LEVELS, Rule
from scanner.model import Finding, IdentityKey, RelatedLocation, Resource, ResourceId, Severity, fingerprint

PSS_DOCS = "https://kubernetes.io/docs/concepts/security/pod-security-admission/"

LEVEL_LOWERED = Rule(
    id="pss-namespace-level-lowered",
    kind="KguardNamespaceLevelLowered",
    title="Namespace lowers the Pod Security level",
    description=("A Namespace sets the pod-security.kubernetes.io/enforce label to a level below the repository's "
                 "default, which relaxes every Pod Security check for the workloads in it."),
    severity=Severity.HIGH,
    category="pod-security",
    tags=("pod-security", "pss-level", "input-posture"),
    remediation=("Remove the label or raise it to the default level. If the namespace really needs host access "
                 "(node agents, CNI, ingress controllers), keep the label and suppress this finding on the Namespace "
                 "with `kguard.io/ignore: \"pss-namespace-level-lowered: <why>\"` so the exception is reviewed."),
    help_url=PSS_DOCS,
    source="scanner/analysis/posture.py",
)
DUPLICATE = Rule(
    id="input-duplicate-object",
    kind="KguardDuplicateObject",
    title="Object defined more than once",
    description=("Two manifests define the same object (API group, kind, namespace, name). Both are scanned, but "
                 "the cluster keeps only one of them, whichever is applied last."),
    severity=Severity.MEDIUM,
    category="input",
    tags=("input", "input-posture"),
    remediation="Keep one definition per object, or scan the copies separately (one overlay or directory per "
                "environment).",
    help_url="https://kubernetes.io/docs/concepts/overview/working-with-objects/names/",
    source="scanner/analysis/posture.py",
)
RULES: tuple[Rule, ...] = (LEVEL_LOWERED, DUPLICATE)


def lowered_levels(resources: Sequence[Resource], default_level: str) -> list[Finding]:
    """Namespaces labelled below ``default_level`` (an invalid value counts as restricted, as upstream does)."""
    out = []
    seen: dict[tuple[str, IdentityKey], int] = {}
    for res in resources:
        if res.kind != "Namespace" or res.api_version != "v1" or res.parent is not None:
            continue
        labels = res.metadata.get("labels")
        level = labels.get(PSS_LABEL) if isinstance(labels, dict) else None
        if level not in PSS_LEVELS or PSS_LEVELS.index(level) >= PSS_LEVELS.index(default_level):
            continue
        path = ("metadata", "labels", PSS_LABEL)
        out.append(Finding(
            rule_id=LEVEL_LOWERED.id, severity=LEVEL_LOWERED.severity, category=LEVEL_LOWERED.category,
            tags=LEVEL_LOWERED.tags, resource=res.identity, location=res.location(path), field_path=path,
            message=(f"Namespace {res.name} sets {PSS_LABEL}={level}, below the default level {default_level}: "
                     f"its workloads are held only to {level}"),
            remediation=LEVEL_LOWERED.remediation, constraint=f"{LEVEL_LOWERED.kind}/{LEVEL_LOWERED.id}",
            fingerprint=fingerprint(LEVEL_LOWERED.id, res.identity, path, level, _copy_in_file(res, res.path, seen)),
            occurrence=res.occurrence))
    return out


def _copy_in_file(res: Resource, source: str, seen: dict[tuple[str, IdentityKey], int]) -> str:
    """``source`` for the first reported copy of an object in its file, ``source#<n>`` for the n-th after it: a
    third copy in one file is a finding of its own, never merged with the second's (and the first keeps the
    fingerprint it always had)."""
    n = seen.get((res.path, res.key), 0)
    seen[(res.path, res.key)] = n + 1
    return f"{source}#{n}" if n else source


def duplicates(resources: Sequence[Resource]) -> list[Finding]:
    """Every copy after the first of an object defined more than once, related to the first copy."""
    first: dict[IdentityKey, Resource] = {}
    seen: dict[tuple[str, IdentityKey], int] = {}
    out = []
    for res in resources:
        if res.parent is not None:
            continue
        if not res.kind or not res.name:
            continue
        original = first.setdefault(res.key, res)
        if original is res:
            continue
        shown = original.location(())
        out.append(Finding(
            rule_id=DUPLICATE.id, severity=DUPLICATE.severity, category=DUPLICATE.category, tags=DUPLICATE.tags,
            resource=res.identity, location=res.location(()),
            message=(f"{res.identity.display()} is also defined at {shown.path}:{shown.line}; the cluster keeps "
                     "only the copy applied last"),
            remediation=DUPLICATE.remediation, constraint=f"{DUPLICATE.kind}/{DUPLICATE.id}",
            related=(RelatedLocation(resource=ResourceId(api_version=original.api_version, kind=original.kind,
                                                         name=original.name, namespace=original.namespace),
                                     location=shown, message="first definition"),),
            fingerprint=fingerprint(DUPLICATE.id, res.identity, (), "",
                                    _copy_in_file(res, f"{res.path}#{original.path}", seen)),
            occurrence=res.occurrence))
    return out


def analyse(resources: Sequence[Resource], context: AnalysisContext | None = None
            ) -> tuple[list[Finding], list[Rule]]:
    """Lowered namespace levels and duplicate objects in ``resources``."""
    context = context or AnalysisContext()
    findings = [*lowered_levels(resources, context.default_pss_level), *duplicates(resources)]
    return sorted(findings, key=Finding.sort_key), list(RULES)
