package kguard.rbac.escalation_verbs

import data.lib.rbac

# Reviewed: Roles and ClusterRoles. One finding per rule that grants escalate/bind/impersonate.
violation contains {
	"msg": sprintf("%s grants escalate/bind/impersonate (%s) in rule %d. These verbs bypass RBAC's privilege-escalation prevention and can lead to cluster-admin.", [rbac.describe_role(role), concat(", ", sort(grants)), i]),
	"details": {"field_path": ["rules", i]},
}
if {
	role := input.review.object
	not rbac.is_exempt_role(role)
	some pair in rbac.indexed_rules(role)
	i := pair[0]
	grants := rbac.class_grants(pair[1], "escalation-verbs")
	count(grants) > 0
}
