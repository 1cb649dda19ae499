package kguard.pod_security.run_as_non_root

import data.lib.pss
import data.lib.util
import data.lib.workload

# Upstream check "runAsNonRoot": the pod must set runAsNonRoot=true (containers may then leave it unset) or every
# container must; an explicit false is forbidden. Pods in a user namespace (hostUsers: false) are exempt.
violation contains pss.pod_violation(pod, ["securityContext", "runAsNonRoot"], "sets securityContext.runAsNonRoot=false. Containers must be required to run as a non-root user.")
if {
	some pod in workload.pod_specs
	util.is_false(pod.spec, ["securityContext", "runAsNonRoot"])
	not workload.in_user_namespace(pod)
}

violation contains pss.container_violation(c, ["securityContext", "runAsNonRoot"], "sets securityContext.runAsNonRoot=false. Containers must be required to run as a non-root user.")
if {
	some c in workload.containers
	util.is_false(c.container, ["securityContext", "runAsNonRoot"])
	not workload.in_user_namespace(c.pod)
}

violation contains pss.container_violation(c, ["securityContext", "runAsNonRoot"], "may run as root. The pod or the container must set securityContext.runAsNonRoot=true.")
if {
	some c in workload.containers
	object.get(c.container, ["securityContext", "runAsNonRoot"], null) == null
	object.get(c.pod.spec, ["securityContext", "runAsNonRoot"], null) == null
	not workload.in_user_namespace(c.pod)
}
