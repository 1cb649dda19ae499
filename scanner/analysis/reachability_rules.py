"""The rule the reachability analysis (`scanner.analysis.reachability`) reports, declared apart from the analysis:
a scan checks --select/--ignore against every rule, and one that runs no reachability analysis (a file scanned
without context, as the pre-commit hook does) then need not import it."""

from __future__ import annotations

from scanner.engine.catalogue import Rule
from scanner.model import Severity

CROSS_ENVIRONMENT = Rule(
    id="seg-reachability-cross-environment",
    kind="KguardAnalysisReachabilityCrossEnvironment",
    title="Workload reachable from another environment",
    description=(
        "Computed over all scanned NetworkPolicies, Namespaces and workloads: a workload in one environment "
        "(development, staging, production, ...) can open connections to a workload in another, because the "
        "source's egress and the destination's ingress both allow it. The finding is on the destination and points "
        "at the NetworkPolicy ingress peer that admits the source, or at the pod template when no policy isolates "
        "the destination for ingress."
    ),
    severity=Severity.HIGH,
    category="segmentation",
    tags=("segmentation", "network-policy", "reachability", "analysis"),
    remediation=(
        "Isolate the destination with a default-deny ingress policy and admit only clients of its own environment "
        "(namespaceSelector on the environment label together with a podSelector); restrict the sources' egress the "
        "same way."
    ),
    help_url="https://kubernetes.io/docs/concepts/services-networking/network-policies/",
    source="scanner/analysis/reachability.py",
)
RULES: tuple[Rule, ...] = (CROSS_ENVIRONMENT,)
