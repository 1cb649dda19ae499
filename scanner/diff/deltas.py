"""What a change does beyond findings: network paths, effective permissions, escalation paths, Pod Security posture.

Each aspect is reduced to a map key -> `Fact` (what holds, and the line responsible) per revision; two maps give
`Delta`s: opened/closed, gained/lost, new/removed, changed. Facts of the head revision are blamed on head lines,
facts that disappear on the base lines that made them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from scanner.analysis import reachability
from scanner.analysis.rbac.capabilities import CLUSTER
from scanner.analysis.rbac.fields import list_or_empty
from scanner.analysis.rbac.findings import escalations, path_severity
from scanner.analysis.rbac.graph import Grant
from scanner.analysis.rbac.graph import build_graph as build_rbac_graph
from scanner.engine.catalogue import PSS_LABEL, PSS_LEVELS
from scanner.model import FieldPath, Finding, Location, Resource, Severity

ASPECTS = ("network", "permission", "escalation", "namespace-level", "workload-level")


@dataclass(frozen=True, slots=True)
class Fact:
    """Something that holds in one revision: its value, where it comes from, and how severe it is."""

    value: str
    location: Location | None
    why: str
    severity: Severity | None = None
    cross_environment: bool = False


@dataclass(frozen=True, slots=True)
class Delta:
    """One change of one aspect: ``change`` is added/removed/changed; ``before``/``after`` are the facts."""

    aspect: str
    change: str
    key: str
    before: Fact | None
    after: Fact | None

    @property
    def fact(self) -> Fact:
        """The fact to show and blame: the head's, else (removed) the base's."""
        fact = self.after or self.before
        assert fact is not None
        return fact

    def introduced(self, threshold: Severity | None) -> bool:
        """Whether this delta adds something at or above ``threshold``: a new escalation path or a new
        cross-environment network path (high)."""
        if threshold is None or self.change == "removed" or self.after is None:
            return False
        if self.aspect == "escalation":
            return self.change == "added" and (self.after.severity or Severity.INFO) >= threshold
        if self.aspect == "network":
            was_cross = self.before is not None and self.before.cross_environment
            return self.after.cross_environment and not was_cross and threshold <= Severity.HIGH
        return False



def diff_facts(aspect: str, base: dict[str, Fact], head: dict[str, Fact]) -> list[Delta]:
    """Added, removed and changed facts, sorted by key."""
    out = []
    for key in sorted(base.keys() | head.keys()):
        before, after = base.get(key), head.get(key)
        if before is None:
            out.append(Delta(aspect, "added", key, None, after))
        elif after is None:
            out.append(Delta(aspect, "removed", key, before, None))
        elif before.value != after.value:
            out.append(Delta(aspect, "changed", key, before, after))
    return out


# --- network paths -------------------------------------------------------------------------------------------------

def _rule_path(rule: reachability.PolicyRule, peer: reachability.Peer | None) -> FieldPath:
    side = "from" if rule.direction == "ingress" else "to"
    return (*rule.field_path, side, peer.index) if peer is not None else rule.field_path


def _rule_fact(rule: reachability.PolicyRule, peer: reachability.Peer | None, ports: str, cross: bool) -> Fact:
    policy = rule.policy.identity
    return Fact(ports, rule.policy.location(_rule_path(rule, peer)),
                f"{rule.direction} rule {rule.index + 1} of NetworkPolicy {policy.namespace}/{policy.name}",
                Severity.HIGH if cross else None, cross)


def network_facts(resources: Sequence[Resource]) -> dict[str, Fact]:
    """The connections NetworkPolicies allow, without enumerating what nothing restricts:

    - ``* -> W``: W is not isolated for ingress (every workload may connect), or a rule admits every source;
    - ``W -> *``: W is not isolated for egress;
    - ``S -> D``: each source an ingress rule of an isolated D admits by selector, with the ports left after both
      sides' policies and the rule responsible (ingress, else the source's egress rule).

    Work grows with the pairs the policies name, not with the square of the workloads.
    """
    graph = reachability.build_graph(resources)
    env = {ns: reachability.environment(ns, labels) or "" for ns, labels in graph.namespace_labels.items()}
    out: dict[str, Fact] = {}
    for group in graph.groups:
        for member in group.members:
            if group.ingress is None:
                out[f"* -> {member.identity.display()}"] = Fact(
                    "any source, any port", member.resource.location(member.template_path),
                    "no NetworkPolicy isolates it for ingress")
            if group.egress is None:
                out[f"{member.identity.display()} -> *"] = Fact(
                    "any destination, any port", member.resource.location(member.template_path),
                    "no NetworkPolicy isolates it for egress")
    for destination in graph.groups:
        if destination.ingress is None:
            continue
        sources: set[int] = set()
        for rule in destination.ingress:
            admitted = graph.admitted_positions(rule)
            if admitted is None:
                for target in destination.members:
                    out.setdefault(f"* -> {target.identity.display()}", _rule_fact(
                        rule, None, reachability.describe_ports(rule.port_set(destination)), False))
            else:
                sources.update(admitted)
        for index in sorted(sources):
            source = graph.groups[index]
            hit = None if source is destination else graph.connection(source, destination)
            if hit is None:
                continue
            src_env, dst_env = env.get(source.namespace, ""), env.get(destination.namespace, "")
            cross = bool(src_env and dst_env and src_env != dst_env)
            rule = hit.ingress_rule or hit.egress_rule
            assert rule is not None  # the destination is isolated: some ingress rule admitted the source
            fact = _rule_fact(rule, hit.ingress_peer if rule is hit.ingress_rule else None,
                              reachability.describe_ports(hit.ports), cross)
            for target in destination.members:
                for member in source.members:
                    out[f"{member.identity.display()} -> {target.identity.display()}"] = fact
    return out


# --- effective permissions and escalation paths --------------------------------------------------------------------

def _strings(value: object) -> list[str]:
    return [str(v) for v in list_or_empty(value)]


def _permissions_of(grant: Grant) -> Iterable[str]:
    rule = grant.rule.rule
    where = "cluster-wide" if grant.scope == CLUSTER else f"in {grant.scope}"
    names = _strings(rule.get("resourceNames"))
    named = f" (only {', '.join(sorted(names))})" if names else ""
    for verb in _strings(rule.get("verbs")):
        for url in _strings(rule.get("nonResourceURLs")):
            yield f"{verb} {url}"
        for group in _strings(rule.get("apiGroups")) or [""]:
            for resource in _strings(rule.get("resources")):
                yield f"{verb} {resource}{'.' + group if group not in ('', '*') else ''}" \
                      f"{' (any group)' if group == '*' else ''}{named} {where}"


def _grant_blame(grant: Grant) -> tuple[Location, str]:
    where = grant.binding.location(("subjects", grant.subject_index))
    return where, f"{grant.via} -> {grant.rule.role_label} rule {grant.rule.index}"


def permission_facts(resources: Sequence[Resource]) -> tuple[dict[str, Fact], dict[str, Fact]]:
    """(effective permissions, escalation paths): ``subject: verb resource scope`` from every binding after
    aggregation, and every escalation path the RBAC analysis reports, each blamed on the binding's subject line."""
    graph = build_rbac_graph(resources)
    permissions: dict[str, Fact] = {}
    for subject in graph.subjects:
        for grant in graph.grants.get(subject, ()):
            where, why = _grant_blame(grant)
            for permission in _permissions_of(grant):
                permissions.setdefault(f"{subject.display()}: {permission}", Fact("granted", where, why))
    paths: dict[str, Fact] = {}
    for path, lost in escalations(graph):
        where, why = _grant_blame(path.grant)
        key = f"{path.grant.subject.display()} {path.action} {path.target}"
        gains = ", ".join(sorted({holding[0] for holding, _ in lost}))
        paths.setdefault(key, Fact(f"{path.verb}; gains {gains}", where, why, path_severity(lost)))
    return permissions, paths


# --- Pod Security posture ------------------------------------------------------------------------------------------

def namespace_levels(resources: Sequence[Resource], default_level: str) -> dict[str, Fact]:
    """The enforce level of every Namespace object (its label, else the default level)."""
    out: dict[str, Fact] = {}
    for res in resources:
        if res.kind != "Namespace" or res.api_version != "v1":
            continue
        labels = res.metadata.get("labels")
        label = labels.get(PSS_LABEL) if isinstance(labels, dict) else None
        if isinstance(label, str) and label in PSS_LEVELS:
            where, why = res.location(("metadata", "labels", PSS_LABEL)), f"label {PSS_LABEL}: {label}"
            level = label
        else:
            where, why, level = res.location(()), "no enforce label: the default level", default_level
        out[f"Namespace {res.name}"] = Fact(level, where, why)
    return out


def workload_levels(findings: Sequence[Finding], rule_levels: dict[str, str], resources: Sequence[Resource],
                    namespaces: dict[str, Fact], default_level: str) -> dict[str, Fact]:
    """The Pod Security level each workload meets: privileged when it breaks a baseline check, baseline when
    it breaks only restricted checks, else its namespace's level (no stricter check ran there)."""
    broken: dict[str, tuple[int, Finding]] = {}
    for finding in findings:
        level = rule_levels.get(finding.rule_id.split("/")[0])
        if level is None:
            continue
        rank = PSS_LEVELS.index(level) - 1  # breaking a baseline check leaves "privileged"
        key = finding.resource.display()
        if key not in broken or rank < broken[key][0]:
            broken[key] = (rank, finding)
    out: dict[str, Fact] = {}
    for workload in reachability.workloads(resources):
        key = workload.identity.display()
        ns = namespaces.get(f"Namespace {workload.namespace}")
        ceiling = PSS_LEVELS.index(ns.value if ns else default_level)
        rank, finding = broken.get(key, (ceiling, None))
        rank = min(rank, ceiling)
        if finding is not None and rank < ceiling:
            out[key] = Fact(PSS_LEVELS[rank], finding.location, f"{finding.rule_id}: {finding.message}")
        else:
            out[key] = Fact(PSS_LEVELS[rank], workload.resource.location(workload.template_path),
                            "meets its namespace's enforce level")
    return out
