package kguard.rbac.pod_exec

import data.lib.rbac

# Reviewed: Roles and ClusterRoles. One finding per rule that grants exec/attach/port-forward into pods.
violation contains {
	"msg": sprintf("%s grants exec/attach/port-forward into pods (%s) in rule %d. Bound subjects can run commands in, attach to or tunnel into running containers and use their credentials.", [rbac.describe_role(role), concat(", ", sort(grants)), i]),
	"details": {"field_path": ["rules", i]},
}
if {
	role := input.review.object
	not rbac.is_exempt_role(role)
	some pair in rbac.indexed_rules(role)
	i := pair[0]
	grants := rbac.class_grants(pair[1], "pod-exec")
	count(grants) > 0
}
