package kguard.pod_security.privileged

import data.lib.pss
import data.lib.util
import data.lib.workload

# Upstream check "privileged": securityContext.privileged must be unset or false in every container.
violation contains pss.container_violation(c, ["securityContext", "privileged"], "runs privileged (securityContext.privileged=true). Privileged containers have full access to the host.")
if {
	some c in workload.containers
	util.is_true(c.container, ["securityContext", "privileged"])
}
