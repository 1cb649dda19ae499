package lib.rbac

import data.lib.selector
import data.lib.util

# RBAC helpers: rule matching with wildcards, the dangerous permissions kguard reports, and role resolution through
# data.inventory (Gatekeeper sync layout).

group_version := "rbac.authorization.k8s.io/v1"

# The rules of a Role/ClusterRole as [index, rule] pairs (aggregated ClusterRoles may have no rules).
indexed_rules(role) := [[i, rule] | some i, rule in util.list(role, ["rules"]); is_object(rule)]

# rule_grants(rule, group, resource, verb): the rule allows `verb` on `resource` ("pods" or "pods/exec") in `group`.
rule_grants(rule, group, resource, verb) if {
	some g in util.list(rule, ["apiGroups"])
	g in {"*", group}
	_resource_matches(util.list(rule, ["resources"]), resource)
	some v in util.list(rule, ["verbs"])
	v in {"*", verb}
}

_resource_matches(resources, _) if "*" in resources

_resource_matches(resources, resource) if resource in resources

_resource_matches(resources, resource) if {
	contains(resource, "/")
	sub := split(resource, "/")[1]
	concat("/", ["*", sub]) in resources
}

# The dangerous permission classes: class -> {"label", "checks": [[group, resource, verb], ...]}.
dangerous_classes := {
	"secrets-read": {
		"label": "read access to Secrets",
		"checks": [["", "secrets", "get"], ["", "secrets", "list"], ["", "secrets", "watch"]],
	},
	"pod-exec": {
		"label": "exec/attach/port-forward into pods",
		"checks": [
			["", "pods/exec", "create"], ["", "pods/exec", "get"],
			["", "pods/attach", "create"], ["", "pods/attach", "get"],
			["", "pods/portforward", "create"], ["", "pods/portforward", "get"],
		],
	},
	"escalation-verbs": {
		"label": "escalate/bind/impersonate",
		"checks": [
			["rbac.authorization.k8s.io", "roles", "escalate"], ["rbac.authorization.k8s.io", "clusterroles", "escalate"],
			["rbac.authorization.k8s.io", "roles", "bind"], ["rbac.authorization.k8s.io", "clusterroles", "bind"],
			["", "users", "impersonate"], ["", "groups", "impersonate"], ["", "serviceaccounts", "impersonate"],
			["authentication.k8s.io", "userextras", "impersonate"], ["authentication.k8s.io", "uids", "impersonate"],
		],
	},
	"workload-create": {
		"label": "creation of pods or pod controllers",
		"checks": [
			["", "pods", "create"], ["", "replicationcontrollers", "create"],
			["apps", "deployments", "create"], ["apps", "replicasets", "create"],
			["apps", "statefulsets", "create"], ["apps", "daemonsets", "create"],
			["batch", "jobs", "create"], ["batch", "cronjobs", "create"],
			["argoproj.io", "rollouts", "create"],
		],
	},
	"nodes-proxy": {
		"label": "access to the kubelet API through nodes/proxy",
		"checks": [["", "nodes/proxy", "get"], ["", "nodes/proxy", "create"]],
	},
	"token-creation": {
		"label": "creation of ServiceAccount tokens or ServiceAccounts",
		"checks": [["", "serviceaccounts/token", "create"], ["", "serviceaccounts", "create"]],
	},
}

# The permissions of `rule` in `class` as "verb resource" strings (empty when none).
class_grants(rule, class) := {sprintf("%s %s", [check[2], check[1]]) |
	some check in dangerous_classes[class].checks
	rule_grants(rule, check[0], check[1], check[2])
}

# The wildcard fields of a rule: [field, index] pairs for "*" in verbs, resources or apiGroups.
wildcards(rule) := [[field, i] |
	some field in ["verbs", "resources", "apiGroups"]
	some i, value in util.list(rule, [field])
	value == "*"
]

# A rule that grants every verb on every resource (cluster-admin-like).
is_full_wildcard(rule) if {
	"*" in util.list(rule, ["verbs"])
	"*" in util.list(rule, ["resources"])
	"*" in util.list(rule, ["apiGroups"])
}

# Roles whose name matches one of the `exemptRoles` globs (parameter) or that Kubernetes bootstraps itself.
is_exempt_role(role) if {
	some pattern in util.list(input, ["parameters", "exemptRoles"])
	glob.match(pattern, [], util.str(role, ["metadata", "name"]))
}

is_exempt_role(role) if util.str(role, ["metadata", "labels", "kubernetes.io/bootstrapping"]) == "rbac-defaults"

# Built-in ClusterRoles used when the inventory does not hold them.
builtin_cluster_roles := {"cluster-admin": {
	"apiVersion": group_version,
	"kind": "ClusterRole",
	"metadata": {"name": "cluster-admin"},
	"rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}],
}}

# The Role/ClusterRole a binding refers to, from data.inventory (built-in cluster-admin as a fallback).
bound_role(binding) := role if {
	binding.roleRef.kind == "ClusterRole"
	role := data.inventory.cluster[group_version].ClusterRole[binding.roleRef.name]
} else := role if {
	binding.roleRef.kind == "ClusterRole"
	role := builtin_cluster_roles[binding.roleRef.name]
} else := role if {
	binding.roleRef.kind == "Role"
	namespace := util.str(binding, ["metadata", "namespace"])
	role := data.inventory.namespace[namespace][group_version].Role[binding.roleRef.name]
}

# The rules a role grants as [role, index, rule] triples, following aggregationRule selectors of aggregated
# ClusterRoles into the inventory.
effective_rules(role) := array.concat(
	[[role, i, rule] | some pair in indexed_rules(role); i := pair[0]; rule := pair[1]],
	[[other, i, rule] |
		some other in aggregated_roles(role)
		some pair in indexed_rules(other)
		i := pair[0]
		rule := pair[1]
	],
)

aggregated_roles(role) := [other |
	some name, other in object.get(data.inventory, ["cluster", group_version, "ClusterRole"], {})
	name != util.str(role, ["metadata", "name"])
	some sel in util.list(role, ["aggregationRule", "clusterRoleSelectors"])
	selector.matches(sel, util.map(other, ["metadata", "labels"]))
]

# The namespace a binding's subject lives in ("" for users and groups).
subject_namespace(binding, subject) := ns if {
	subject.kind == "ServiceAccount"
	ns := util.str(subject, ["namespace"])
	ns != ""
} else := util.str(binding, ["metadata", "namespace"]) if {
	subject.kind == "ServiceAccount"
} else := ""

# "ServiceAccount shop/ci", "Group system:authenticated", "User alice".
describe_subject(binding, subject) := sprintf("ServiceAccount %s/%s", [subject_namespace(binding, subject), subject.name]) if {
	subject.kind == "ServiceAccount"
} else := sprintf("%s %s", [subject.kind, subject.name])

# Subjects that must never hold broad permissions: ServiceAccounts and the "everyone" groups and users.
anonymous_subjects := {"system:authenticated", "system:unauthenticated", "system:anonymous"}

is_sensitive_subject(subject) if subject.kind == "ServiceAccount"

is_sensitive_subject(subject) if {
	subject.kind in {"Group", "User"}
	subject.name in anonymous_subjects
}

# A role reference for details.related.
related_role(role, i, message) := object.union(
	{
		"apiVersion": group_version,
		"kind": role.kind,
		"name": util.str(role, ["metadata", "name"]),
		"field_path": ["rules", i],
		"message": message,
	},
	_namespace_field(role),
)

_namespace_field(obj) := {"namespace": ns} if {
	ns := util.str(obj, ["metadata", "namespace"])
	ns != ""
} else := {}

# "ClusterRole ops" / "Role shop/deployer".
describe_role(role) := util.display(role)
