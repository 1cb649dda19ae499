"""The rules the RBAC escalation analysis reports under (known before it runs, for --select/--ignore)."""

from __future__ import annotations

from scanner.engine.catalogue import Rule
from scanner.model import Severity

HELP_URL = "https://kubernetes.io/docs/concepts/security/rbac-good-practices/"
SOURCE = "scanner/analysis/rbac/rules.py"
TAGS = ("rbac", "privilege-escalation", "analysis")

POD_CREATE = "rbac-escalation-pod-create"
TOKEN = "rbac-escalation-token"
BIND_ESCALATE_IMPERSONATE = "rbac-escalation-bind-escalate-impersonate"

RULES = (
    Rule(
        id=POD_CREATE, kind="RbacEscalationPodCreate", severity=Severity.HIGH, category="rbac",
        title="Pod creation or exec reaches a more powerful ServiceAccount",
        description="A subject that can create pods (or Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, "
                    "CronJobs, ReplicationControllers) in a namespace can run a pod as any ServiceAccount of that "
                    "namespace and use its token; one that can exec into pods gets the token of the pods' "
                    "ServiceAccount. Reported when such a ServiceAccount holds dangerous permissions the subject "
                    "does not (whole-graph analysis of bindings, roles and groups).",
        tags=TAGS,
        remediation="Remove the pod/workload create (or pods/exec) permission from the subject, move the powerful "
                    "ServiceAccount to a namespace the subject cannot create pods in, or reduce that "
                    "ServiceAccount's permissions.",
        help_url=HELP_URL, source=SOURCE,
    ),
    Rule(
        id=TOKEN, kind="RbacEscalationToken", severity=Severity.HIGH, category="rbac",
        title="Token creation for a more powerful ServiceAccount",
        description="create on serviceaccounts/token issues a token for a ServiceAccount, so the subject gains "
                    "all of its permissions. Reported when that ServiceAccount holds dangerous permissions the "
                    "subject does not.",
        tags=TAGS,
        remediation="Remove create on serviceaccounts/token, or restrict it with resourceNames to "
                    "ServiceAccounts that hold no more than the subject itself.",
        help_url=HELP_URL, source=SOURCE,
    ),
    Rule(
        id=BIND_ESCALATE_IMPERSONATE, kind="RbacEscalationBindEscalateImpersonate", severity=Severity.CRITICAL,
        category="rbac",
        title="bind, escalate or impersonate reaches more permissions",
        description="bind (with create on bindings) lets a subject bind any role, cluster-admin included, to "
                    "itself; escalate (with update on roles) lets it add any permission to a role it holds; "
                    "impersonate lets it act as other users, groups (system:masters included) or "
                    "ServiceAccounts. Reported with the identity or role reached and what it adds.",
        tags=TAGS,
        remediation="Remove bind, escalate and impersonate from the subject's roles, or restrict them with "
                    "resourceNames to roles and identities that hold no more than the subject itself.",
        help_url=HELP_URL, source=SOURCE,
    ),
)
RULES_BY_ID = {rule.id: rule for rule in RULES}
