package kguard.pod_security.selinux_options

import data.lib.pss
import data.lib.util
import data.lib.workload

# Upstream check "seLinuxOptions": seLinuxOptions.type (pod and containers) must be empty or one of the container
# types; seLinuxOptions.user and .role must be empty.
allowed_types := {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}

violation contains pss.pod_violation(pod, ["securityContext", "seLinuxOptions", field], problem)
if {
	some pod in workload.pod_specs
	options := util.map(pod.spec, ["securityContext", "seLinuxOptions"])
	count(options) > 0
	some field, problem in problems(options)
}

violation contains pss.container_violation(c, ["securityContext", "seLinuxOptions", field], problem)
if {
	some c in workload.containers
	options := util.map(c.container, ["securityContext", "seLinuxOptions"])
	count(options) > 0
	some field, problem in problems(options)
}

problems(options) := {field: problem |
	some field in ["type", "user", "role"]
	problem := problem_of(field, util.str(options, [field]))
}

problem_of("type", value) := sprintf("sets the forbidden SELinux type %q. Allowed: container_t, container_init_t, container_kvm_t, container_engine_t.", [value]) if {
	not value in allowed_types
}

problem_of(field, value) := sprintf("sets a custom SELinux %s %q. Custom SELinux users and roles are forbidden.", [field, value]) if {
	field in {"user", "role"}
	value != ""
}
