package kguard.rbac.binding_dangerous_permissions

import data.lib.rbac
import data.lib.util

# Reviewed: RoleBindings and ClusterRoleBindings; the role is read from data.inventory.
violation contains {
	"msg": sprintf("%s gets %s via %s (%s). Granted by %s.", [rbac.describe_subject(binding, subject), info.label, rbac.describe_role(role), concat(", ", sort(perms)), concat(", ", sort(sources))]),
	"details": {"field_path": ["subjects", s], "related": related},
}
if {
	binding := input.review.object
	not rbac.is_exempt_role(binding)
	role := rbac.bound_role(binding)
	not rbac.is_exempt_role(role)
	not is_broad(role)
	rules := rbac.effective_rules(role)
	some s, subject in util.list(binding, ["subjects"])
	some class, info in rbac.dangerous_classes
	hits := [[r, i, grants] |
		some triple in rules
		grants := rbac.class_grants(triple[2], class)
		count(grants) > 0
		r := triple[0]
		i := triple[1]
	]
	count(hits) > 0
	perms := {p | some hit in hits; some p in hit[2]}
	sources := {sprintf("%s rule %d", [rbac.describe_role(hit[0]), hit[1]]) | some hit in hits}
	related := [rbac.related_role(hit[0], hit[1], sprintf("grants %s", [concat(", ", sort(hit[2]))])) | some hit in hits]
}

is_broad(role) if {
	some triple in rbac.effective_rules(role)
	rbac.is_full_wildcard(triple[2])
}
