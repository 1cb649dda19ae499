package kguard.pod_security.proc_mount_restricted

import data.lib.pss
import data.lib.workload

# Upstream check "procMount_restricted": securityContext.procMount must be unset or "Default", user namespace or not.
violation contains proc_mount_violation(c, mount) if {
	some c in workload.containers
	mount := object.get(c.container, ["securityContext", "procMount"], null)
	not mount in {null, "Default"}
	workload.in_user_namespace(c.pod)
}

# Outside a user namespace (hostUsers: false) a non-default procMount also breaks procMount (baseline).
violation contains pss.violates_baseline(proc_mount_violation(c, mount)) if {
	some c in workload.containers
	mount := object.get(c.container, ["securityContext", "procMount"], null)
	not mount in {null, "Default"}
	not workload.in_user_namespace(c.pod)
}

proc_mount_violation(c, mount) := pss.container_violation(c, ["securityContext", "procMount"], sprintf("sets securityContext.procMount=%q. The restricted level requires the default /proc masks.", [mount]))
