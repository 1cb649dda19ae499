package kguard.pod_security.allow_privilege_escalation

import data.lib.pss
import data.lib.util
import data.lib.workload

# Upstream check "allowPrivilegeEscalation": every container must set securityContext.allowPrivilegeEscalation=false.
# Windows pods are exempt.
violation contains pss.container_violation(c, ["securityContext", "allowPrivilegeEscalation"], "does not set securityContext.allowPrivilegeEscalation=false. Processes could gain more privileges than their parent (setuid binaries).")
if {
	some c in workload.containers
	not util.is_false(c.container, ["securityContext", "allowPrivilegeEscalation"])
	not workload.is_windows(c.pod)
}
