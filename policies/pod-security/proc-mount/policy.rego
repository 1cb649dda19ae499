package kguard.pod_security.proc_mount

import data.lib.pss
import data.lib.workload

# Upstream check "procMount" (baseline): securityContext.procMount must be unset or "Default", unless the pod
# runs in a user namespace (spec.hostUsers: false).
violation contains pss.container_violation(c, ["securityContext", "procMount"], sprintf("sets securityContext.procMount=%q. The default /proc masks must be kept unless the pod sets hostUsers: false.", [mount]))
if {
	some c in workload.containers
	mount := object.get(c.container, ["securityContext", "procMount"], null)
	not mount in {null, "Default"}
	not workload.in_user_namespace(c.pod)
}
