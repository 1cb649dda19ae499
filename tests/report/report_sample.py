"""The one in-memory ScanResult shared by every report test and golden file (fixture: `scan_result`)."""

from __future__ import annotations

import os
from pathlib import Path

from scanner.engine.catalogue import Rule
from scanner.model import (
    Finding,
    InputError,
    Location,
    PolicyError,
    RelatedLocation,
    ResourceId,
    ScanResult,
    Severity,
    Skipped,
    Suppression,
    fingerprint,
)

GOLDEN_DIR = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("KGUARD_UPDATE_GOLDEN") == "1"

RULES = [
    Rule(
        id="pss-privileged",
        kind="KguardPssPrivileged",
        title="Privileged containers",
        description="Privileged containers share the host's devices and kernel capabilities; a compromise of the "
        "container is a compromise of the node.",
        severity=Severity.CRITICAL,
        category="pod-security",
        tags=("pod-security", "pss-baseline"),
        remediation="Remove securityContext.privileged or set it to false.",
        help_url="https://kubernetes.io/docs/concepts/security/pod-security-standards/",
        pss_level="baseline",
        pss_check=("privileged",),
        source="policies/pod-security/privileged/metadata.yaml",
    ),
    Rule(
        id="pss-run-as-non-root",
        kind="KguardPssRunAsNonRoot",
        title="Containers must run as non-root",
        description="Restricted pods must set runAsNonRoot: true on the pod or on every container.",
        severity=Severity.MEDIUM,
        category="pod-security",
        tags=("pod-security", "pss-restricted"),
        remediation="Set securityContext.runAsNonRoot: true.",
        help_url="https://kubernetes.io/docs/concepts/security/pod-security-standards/",
        pss_level="restricted",
        pss_check=("runAsNonRoot", "runAsUser"),
    ),
    Rule(
        id="rbac-wildcard-verbs",
        kind="KguardRbacWildcardVerbs",
        title="Roles granting every verb",
        description="A rule with verbs: ['*'] grants every current and future verb, including escalate and bind.",
        severity=Severity.HIGH,
        category="rbac",
        tags=("rbac", "least-privilege"),
        remediation="List the verbs the subject needs.",
        help_url="https://kubernetes.io/docs/reference/access-authn-authz/rbac/",
    ),
    Rule(
        id="seg-default-deny",
        kind="KguardSegDefaultDeny",
        title="Namespaces without a default-deny NetworkPolicy",
        description="Every application namespace needs a NetworkPolicy that denies all ingress by default. " * 30,
        severity=Severity.MEDIUM,
        category="segmentation",
        tags=("segmentation", "network-policy"),
        remediation="Add a NetworkPolicy with an empty podSelector and policyTypes [Ingress].",
        help_url="",
    ),
    Rule(
        id="rbac-unused-rule",
        kind="KguardRbacUnusedRule",
        title="A rule with no finding",
        description="Present so that rules without results still appear in SARIF.",
        severity=Severity.LOW,
        category="rbac",
        tags=("rbac",),
        remediation="Nothing to do.",
        help_url="",
    ),
]

# What the scan ran with (the shape ScanResult.settings documents).
SETTINGS = {
    "policies": {"source": "policies", "sha256": "9f2c" * 16},
    "config": {
        "source": ".kguard.yaml",
        "overlays": None,
        "exclude": ["manifests/experimental/**"],
        "podTemplatePaths": [],
        "podSecurity": {"defaultLevel": "restricted", "exemptions": {"namespaces": ["kube-system"]}},
    },
    "suppressions": {"inline": 1, "baseline": 1},
}

API_GATEWAY = ResourceId(api_version="apps/v1", kind="Deployment", name="api-gateway", namespace="production")
FRONTEND = ResourceId(api_version="apps/v1", kind="Deployment", name="frontend", namespace="production")
ADMIN_ROLE = ResourceId(api_version="rbac.authorization.k8s.io/v1", kind="ClusterRole", name="shop-admin")
ADMIN_BINDING = ResourceId(api_version="rbac.authorization.k8s.io/v1", kind="ClusterRoleBinding", name="shop-admin")
SHOP_NS = ResourceId(api_version="v1", kind="Namespace", name="shop")


def _finding(rule_id: str, severity: Severity, category: str, resource: ResourceId, path: str, line: int,
             column: int, field_path: tuple[str | int, ...], message: str, **extra: object) -> Finding:
    width = len(str(field_path[-1])) if field_path else 4
    return Finding(
        rule_id=rule_id,
        severity=severity,
        category=category,
        tags=(category,),
        message=message,
        resource=resource,
        location=Location(path=path, line=line, column=column, end_line=line, end_column=column + width),
        field_path=field_path,
        fingerprint=fingerprint(rule_id, resource, field_path, message),
        **extra,  # type: ignore[arg-type]
    )


def build_result() -> ScanResult:
    container = ("spec", "template", "spec", "containers", 0)
    findings = [
        _finding("rbac-wildcard-verbs", Severity.HIGH, "rbac", ADMIN_ROLE, "manifests/base/platform/rbac.yaml", 9,
                 13, ("rules", 0, "verbs"), "ClusterRole shop-admin grants every verb on deployments",
                 remediation="List the verbs the subject needs (get, list, watch).",
                 constraint="KguardRbacWildcardVerbs/rbac-wildcard-verbs",
                 related=(RelatedLocation(resource=ADMIN_BINDING,
                                          location=Location(path="manifests/base/platform/rbac.yaml", line=20,
                                                            column=3, end_line=20, end_column=10),
                                          message="ClusterRoleBinding shop-admin grants it to group shop-devs"),
                          RelatedLocation(resource=ResourceId(api_version="v1", kind="ServiceAccount",
                                                              name="ci", namespace="tools"),
                                          location=None, message="")),
                 ),
        _finding("pss-privileged", Severity.CRITICAL, "pod-security", API_GATEWAY,
                 "manifests/base/api-gateway/deployment.yaml", 31, 13, (*container, "securityContext", "privileged"),
                 "Container gateway in Deployment api-gateway is privileged",
                 constraint="KguardPssPrivileged/pss-privileged"),
        _finding("pss-run-as-non-root", Severity.MEDIUM, "pod-security", FRONTEND,
                 "manifests/overlays/production/../../base/frontend/deployment.yaml", 24, 9,
                 (*container, "securityContext"), "Container web in Deployment frontend may run as root."),
        _finding("pss-run-as-non-root", Severity.MEDIUM, "pod-security", API_GATEWAY,
                 "manifests/base/api-gateway/deployment.yaml", 25, 9, (*container, "securityContext"),
                 "Container gateway in Deployment api-gateway may run as root",
                 suppression=Suppression(kind="inSource", justification="gateway binds port 80 until SHOP-142",
                                         owner="platform-team", expires="2027-01-31")),
        _finding("seg-default-deny", Severity.MEDIUM, "segmentation", SHOP_NS,
                 "manifests/base/namespaces/shop ns.yaml", 1, 1, (),
                 "Namespace shop has no default-deny ingress NetworkPolicy"),
        _finding("extra-template-rule", Severity.LOW, "segmentation", SHOP_NS,
                 "manifests/base/namespaces/shop ns.yaml", 4, 3, ("metadata", "labels", "team.example.com/owner"),
                 "Namespace shop has no owner label", enforcement_action="warn",
                 suppression=Suppression(kind="external", justification="tracked in the baseline")),
    ]
    return ScanResult(
        findings=findings,
        scanned=["manifests/base/platform/rbac.yaml", "manifests/base/api-gateway/deployment.yaml",
                 "manifests/base/frontend/deployment.yaml", "manifests/base/namespaces/shop ns.yaml",
                 "manifests/base/kustomization.yaml", "manifests/broken.yaml"],
        resources=7,
        skipped=[Skipped(path="manifests/base/kustomization.yaml",
                         reason="not a Kubernetes object (no apiVersion/kind)", line=1)],
        input_errors=[InputError(path="manifests/broken.yaml", message="mapping values are not allowed here",
                                 line=7)],
        policy_errors=[PolicyError(policy="rbac-unused-rule", message="evaluation timed out after 5s")],
        not_evaluated=[Skipped(path="manifests/base/api-gateway/deployment.yaml",
                               reason="namespaceSelector of pss-privileged needs Namespace production, not scanned",
                               line=1)],
        rules=list(RULES),
        category="kguard/production",
        coverage=[{"resource": "secrets", "namespace": "kube-system", "reason": "forbidden: cannot list"}],
        settings=SETTINGS,
    )


def check_golden(name: str, text: str) -> None:
    """Compare ``text`` with tests/report/golden/<name>; KGUARD_UPDATE_GOLDEN=1 rewrites the file instead."""
    path = GOLDEN_DIR / name
    if UPDATE_GOLDEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"{path} missing: run with KGUARD_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"
