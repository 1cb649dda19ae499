"""Offline RBAC escalation analysis: who can become whom, across bindings, roles and ServiceAccounts.

Single-object policies (policies/rbac) report a dangerous verb on one role or one binding. This package resolves
the whole graph instead: every binding subject's effective permissions (RoleBindings and ClusterRoleBindings ->
Roles and ClusterRoles, aggregated ClusterRoles, the implicit groups of ServiceAccounts and users), then the
paths by which a subject turns one permission into another identity's: creating pods (or exec into them) to run
as a stronger ServiceAccount, requesting its token, or bind/escalate/impersonate. See docs/analysis-rbac.md.

Modules, in data-flow order: `rules` (the reported rules), `capabilities` (one rule's permissions and the
dangerous capabilities they grant), `subjects`, `builtin_roles` and `roles` (role rules, aggregation), `graph`
(grants per subject), `escalation` (paths per grant), `findings` (`analyse`).
"""

from __future__ import annotations

from scanner.analysis.rbac.findings import analyse
from scanner.analysis.rbac.graph import build_graph
from scanner.analysis.rbac.rules import BIND_ESCALATE_IMPERSONATE, POD_CREATE, RULES, TOKEN
from scanner.analysis.rbac.subjects import Subject

__all__ = ["BIND_ESCALATE_IMPERSONATE", "POD_CREATE", "RULES", "TOKEN", "Subject", "analyse", "build_graph"]
