package kguard.rbac.workload_create

import data.lib.rbac

# Reviewed: Roles and ClusterRoles. One finding per rule that grants creation of pods or pod controllers.
violation contains {
	"msg": sprintf("%s grants creation of pods or pod controllers (%s) in rule %d. Whoever can create pods can run them as any ServiceAccount of the namespace and mount its Secrets.", [rbac.describe_role(role), concat(", ", sort(grants)), i]),
	"details": {"field_path": ["rules", i]},
}
if {
	role := input.review.object
	not rbac.is_exempt_role(role)
	some pair in rbac.indexed_rules(role)
	i := pair[0]
	grants := rbac.class_grants(pair[1], "workload-create")
	count(grants) > 0
}
