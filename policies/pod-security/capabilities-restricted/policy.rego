package kguard.pod_security.capabilities_restricted

import data.lib.pss
import data.lib.util
import data.lib.workload

# Upstream check "capabilities_restricted": every container must drop ALL capabilities and may add only
# NET_BIND_SERVICE. Windows pods are exempt.
violation contains pss.container_violation(c, ["securityContext", "capabilities", "drop"], "does not drop all capabilities. Set securityContext.capabilities.drop to [\"ALL\"].")
if {
	some c in workload.containers
	not "ALL" in util.list(c.container, ["securityContext", "capabilities", "drop"])
	not workload.is_windows(c.pod)
}

violation contains pss.container_violation(c, ["securityContext", "capabilities", "add", i], sprintf("adds the capability %v. The restricted level allows adding only NET_BIND_SERVICE.", [cap]))
if {
	some c in workload.containers
	some i, cap in util.list(c.container, ["securityContext", "capabilities", "add"])
	cap != "NET_BIND_SERVICE"
	not workload.is_windows(c.pod)
}
