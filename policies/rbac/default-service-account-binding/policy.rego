package kguard.rbac.default_service_account_binding

import data.lib.rbac
import data.lib.util

# Reviewed: RoleBindings and ClusterRoleBindings whose subjects include a namespace's `default` ServiceAccount.
violation contains {
	"msg": sprintf("%s binds %s to %s %s. Every pod without an explicit serviceAccountName inherits these permissions.", [util.display(binding), rbac.describe_subject(binding, subject), binding.roleRef.kind, binding.roleRef.name]),
	"details": {"field_path": ["subjects", s]},
}
if {
	binding := input.review.object
	some s, subject in util.list(binding, ["subjects"])
	subject.kind == "ServiceAccount"
	subject.name == "default"
}
