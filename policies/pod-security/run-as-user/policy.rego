package kguard.pod_security.run_as_user

import data.lib.pss
import data.lib.workload

# Upstream check "runAsUser": runAsUser (pod and containers) must not be 0. Pods in a user namespace
# (hostUsers: false) are exempt.
violation contains pss.pod_violation(pod, ["securityContext", "runAsUser"], "sets securityContext.runAsUser=0. Containers must not run as the root user.")
if {
	some pod in workload.pod_specs
	object.get(pod.spec, ["securityContext", "runAsUser"], null) == 0
	not workload.in_user_namespace(pod)
}

violation contains pss.container_violation(c, ["securityContext", "runAsUser"], "sets securityContext.runAsUser=0. Containers must not run as the root user.")
if {
	some c in workload.containers
	object.get(c.container, ["securityContext", "runAsUser"], null) == 0
	not workload.in_user_namespace(c.pod)
}
