"""Escalation paths as findings: message, severity, locations of the binding entry and of the rules involved."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from scanner.analysis.rbac.capabilities import CLUSTER, CRITICAL_CAPABILITIES, Holding, describe, gained
from scanner.analysis.rbac.escalation import Enumerated, Path, may_enable, paths_for
from scanner.analysis.rbac.graph import Grant, Graph, build_graph
from scanner.analysis.rbac.rules import RULES, RULES_BY_ID
from scanner.analysis.rbac.subjects import Subject
from scanner.engine.catalogue import Rule
from scanner.model import Finding, RelatedLocation, Resource, ResourceId, Severity, fingerprint

RBAC_API = "rbac.authorization.k8s.io/v1"
BOOTSTRAP_LABEL = ("kubernetes.io/bootstrapping", "rbac-defaults")



def _is_bootstrap(res: Resource) -> bool:
    labels = res.metadata.get("labels")
    return isinstance(labels, dict) and labels.get(BOOTSTRAP_LABEL[0]) == BOOTSTRAP_LABEL[1]


def path_severity(lost: list[tuple[Holding, Grant | None]]) -> Severity:
    """Critical when the path gains a critical capability cluster-wide, else high."""
    return Severity.CRITICAL if any(h[0] in CRITICAL_CAPABILITIES and h[1] == CLUSTER for h, _ in lost) \
        else Severity.HIGH


def _finding(path: Path, lost: list[tuple[Holding, Grant | None]]) -> Finding:
    grant, rule = path.grant, RULES_BY_ID[path.rule_id]
    top, top_grant = lost[0]
    if top_grant is not None:
        via = f" via {top_grant.via}"
    elif path.target == "Group system:masters":
        via = " (system:masters bypasses RBAC)"
    else:
        via = ""
    more = f" (and {len(lost) - 1} more)" if len(lost) > 1 else ""
    message = f"{grant.subject.display()} {path.action} {path.target}, which has {describe(top)}{via}{more}"
    severity = path_severity(lost)
    related = []
    if grant.rule.role is not None:
        related.append(RelatedLocation(resource=grant.rule.role.identity,
                                       location=grant.rule.role.location(("rules", grant.rule.index)),
                                       message=f"rule {grant.rule.index} grants {path.verb}"))
    else:
        related.append(RelatedLocation(resource=ResourceId(api_version=RBAC_API, kind="ClusterRole",
                                                           name=grant.rule.role_label.split()[1]),
                                       location=None,
                                       message=f"built-in role (not in the scanned set) grants {path.verb}"))
    if top_grant is not None:
        related.append(RelatedLocation(resource=top_grant.binding.identity,
                                       location=top_grant.binding.location(("subjects", top_grant.subject_index)),
                                       message=f"gives {path.target} {describe(top)}"))
    elif path.target_role is not None:
        related.append(RelatedLocation(resource=path.target_role.identity, location=path.target_role.location(()),
                                       message=f"grants {describe(top)}"))
    ident = grant.binding.identity
    field_path = ("subjects", grant.subject_index)
    return Finding(
        rule_id=rule.id, severity=severity, category=rule.category, tags=rule.tags, message=message,
        resource=ident, location=grant.binding.location(field_path), field_path=field_path,
        remediation=rule.remediation, constraint=f"{rule.kind}/{rule.id}", related=tuple(related),
        fingerprint=fingerprint(rule.id, ident, (*field_path, path.target), "",
                                grant.binding.path),
        occurrence=grant.binding.occurrence,
    )


def analyse(resources: Iterable[Resource], context: object = None) -> tuple[list[Finding], list[Rule]]:
    """Escalation paths in ``resources`` as findings (sorted), with the rules they belong to."""
    findings = [_finding(path, lost) for path, lost in escalations(build_graph(resources))]
    findings.sort(key=Finding.sort_key)
    return findings, list(RULES)


def escalations(graph: Graph) -> Iterator[tuple[Path, list[tuple[Holding, Grant | None]]]]:
    """Each reported escalation path once, with what it gains (most severe first), in grant order."""
    seen: set[tuple[str, Subject, str]] = set()
    done: Enumerated = set()
    ordered = sorted((g for grants in graph.grants.values() for g in grants),
                     key=lambda g: (g.subject, g.binding.path, g.binding.doc_index, g.subject_index, g.rule.index))
    for grant in ordered:
        if _is_bootstrap(grant.binding) or not may_enable(grant.rule.perms):
            continue
        subject_holdings = graph.holdings(grant.subject)
        if ("cluster-admin", CLUSTER) in subject_holdings:
            continue  # nothing left to gain
        for path in paths_for(graph, grant, done):
            key = (path.rule_id, grant.subject, path.target)
            if key in seen or path.target == grant.subject.display():
                continue
            lost = gained(path.reached, subject_holdings)
            if lost:
                seen.add(key)
                yield path, lost
