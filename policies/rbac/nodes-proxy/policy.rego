package kguard.rbac.nodes_proxy

import data.lib.rbac

# Reviewed: Roles and ClusterRoles. One finding per rule that grants access to the kubelet API through nodes/proxy.
violation contains {
	"msg": sprintf("%s grants access to the kubelet API through nodes/proxy (%s) in rule %d. nodes/proxy reaches the kubelet API, which can run commands in any pod on the node and bypasses audit logging.", [rbac.describe_role(role), concat(", ", sort(grants)), i]),
	"details": {"field_path": ["rules", i]},
}
if {
	role := input.review.object
	not rbac.is_exempt_role(role)
	some pair in rbac.indexed_rules(role)
	i := pair[0]
	grants := rbac.class_grants(pair[1], "nodes-proxy")
	count(grants) > 0
}
