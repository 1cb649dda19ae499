package kguard.rbac.broad_role_binding

import data.lib.rbac
import data.lib.util

# Reviewed: RoleBindings and ClusterRoleBindings. cluster-admin is known without the inventory; other roles are
# broad when one of their (aggregated) rules has "*" in verbs, resources and apiGroups.
violation contains {
	"msg": sprintf("%s gets full (wildcard) permissions via %s. Broad roles must not be bound to ServiceAccounts or to anonymous/all-users groups.", [rbac.describe_subject(binding, subject), rbac.describe_role(role)]),
	"details": {"field_path": ["subjects", s], "related": [rbac.related_role(role, i, "grants every verb on every resource")]},
}
if {
	binding := input.review.object
	not rbac.is_exempt_role(binding)
	role := rbac.bound_role(binding)
	some triple in rbac.effective_rules(role)
	rbac.is_full_wildcard(triple[2])
	i := triple[1]
	triple[0] == role
	some s, subject in util.list(binding, ["subjects"])
	rbac.is_sensitive_subject(subject)
}

violation contains {
	"msg": sprintf("%s gets full (wildcard) permissions via %s (aggregated from %s). Broad roles must not be bound to ServiceAccounts or to anonymous/all-users groups.", [rbac.describe_subject(binding, subject), rbac.describe_role(role), rbac.describe_role(source)]),
	"details": {"field_path": ["subjects", s], "related": [rbac.related_role(source, i, "grants every verb on every resource")]},
}
if {
	binding := input.review.object
	not rbac.is_exempt_role(binding)
	role := rbac.bound_role(binding)
	some triple in rbac.effective_rules(role)
	rbac.is_full_wildcard(triple[2])
	source := triple[0]
	source != role
	i := triple[1]
	some s, subject in util.list(binding, ["subjects"])
	rbac.is_sensitive_subject(subject)
}
