package kguard.rbac.token_creation

import data.lib.rbac

# Reviewed: Roles and ClusterRoles. One finding per rule that grants creation of ServiceAccount tokens or ServiceAccounts.
violation contains {
	"msg": sprintf("%s grants creation of ServiceAccount tokens or ServiceAccounts (%s) in rule %d. Bound subjects can mint tokens for (or create) ServiceAccounts and act with their permissions.", [rbac.describe_role(role), concat(", ", sort(grants)), i]),
	"details": {"field_path": ["rules", i]},
}
if {
	role := input.review.object
	not rbac.is_exempt_role(role)
	some pair in rbac.indexed_rules(role)
	i := pair[0]
	grants := rbac.class_grants(pair[1], "token-creation")
	count(grants) > 0
}
