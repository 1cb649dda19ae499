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

import importlib
from typing import Any

# Public name -> the module defining it, imported on first use: reading `rbac.rules` (as a scan does to check
# --select/--ignore) does not import the graph and escalation modules.
_EXPORTS = {"analyse": "findings", "build_graph": "graph", "Subject": "subjects", "RULES": "rules",
            "BIND_ESCALATE_IMPERSONATE": "rules", "POD_CREATE": "rules", "TOKEN": "rules"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
