"""Built-in ClusterRoles known by name when the scanned set does not hold them.

Approximations of the Kubernetes bootstrap policy; see docs/analysis-rbac.md.
"""

from __future__ import annotations

from typing import Any

from scanner.analysis.rbac.capabilities import RBAC_GROUP, READ_VERBS

_WRITE = ["create", "delete", "deletecollection", "patch", "update", *READ_VERBS]
_CORE_VIEW = ["pods", "pods/log", "pods/status", "services", "endpoints", "configmaps", "persistentvolumeclaims",
              "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "events", "limitranges",
              "resourcequotas", "namespaces"]
_APPS = ["deployments", "deployments/scale", "replicasets", "replicasets/scale", "statefulsets",
         "statefulsets/scale", "daemonsets"]
_OTHER = [("batch", ["jobs", "cronjobs"]), ("autoscaling", ["horizontalpodautoscalers"]),
          ("policy", ["poddisruptionbudgets"]), ("networking.k8s.io", ["networkpolicies", "ingresses"])]
_VIEW_RULES = [{"apiGroups": [""], "resources": _CORE_VIEW, "verbs": READ_VERBS},
               {"apiGroups": ["apps"], "resources": _APPS, "verbs": READ_VERBS},
               *({"apiGroups": [g], "resources": r, "verbs": READ_VERBS} for g, r in _OTHER)]
_EDIT_RULES = [{"apiGroups": [""], "verbs": _WRITE,
                "resources": ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets",
                              "services", "configmaps", "persistentvolumeclaims", "replicationcontrollers",
                              "replicationcontrollers/scale", "serviceaccounts", "endpoints"]},
               {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]},
               {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]},
               {"apiGroups": ["apps"], "resources": _APPS, "verbs": _WRITE},
               *({"apiGroups": [g], "resources": r, "verbs": _WRITE} for g, r in _OTHER),
               *_VIEW_RULES]
BUILTIN_CLUSTER_ROLES: dict[str, list[dict[str, Any]]] = {
    "cluster-admin": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                      {"nonResourceURLs": ["*"], "verbs": ["*"]}],
    "admin": [{"apiGroups": [RBAC_GROUP], "resources": ["roles", "rolebindings"], "verbs": _WRITE}, *_EDIT_RULES],
    "edit": _EDIT_RULES,
    "view": _VIEW_RULES,
}
