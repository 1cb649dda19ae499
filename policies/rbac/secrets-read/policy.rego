package kguard.rbac.secrets_read

import data.lib.rbac

# Reviewed: Roles and ClusterRoles. One finding per rule that grants read access to Secrets.
violation contains {
	"msg": sprintf("%s grants read access to Secrets (%s) in rule %d. Anyone bound to it can read every Secret in scope (tokens, passwords, keys).", [rbac.describe_role(role), concat(", ", sort(grants)), i]),
	"details": {"field_path": ["rules", i]},
}
if {
	role := input.review.object
	not rbac.is_exempt_role(role)
	some pair in rbac.indexed_rules(role)
	i := pair[0]
	grants := rbac.class_grants(pair[1], "secrets-read")
	count(grants) > 0
}
