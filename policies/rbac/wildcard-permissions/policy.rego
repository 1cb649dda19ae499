package kguard.rbac.wildcard_permissions

import data.lib.rbac

# Reviewed: Roles and ClusterRoles. One finding per "*" in a rule's verbs, resources or apiGroups.
violation contains {
	"msg": sprintf("%s uses a wildcard in %s of rule %d. Wildcards grant every current and future %s.", [rbac.describe_role(role), field, i, noun[field]]),
	"details": {"field_path": ["rules", i, field, j]},
}
if {
	role := input.review.object
	not rbac.is_exempt_role(role)
	some pair in rbac.indexed_rules(role)
	i := pair[0]
	some wildcard in rbac.wildcards(pair[1])
	field := wildcard[0]
	j := wildcard[1]
}

noun := {"verbs": "verb", "resources": "resource", "apiGroups": "API group"}
