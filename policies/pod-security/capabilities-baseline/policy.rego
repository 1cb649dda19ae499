package kguard.pod_security.capabilities_baseline

import data.lib.pss
import data.lib.util
import data.lib.workload

# Upstream check "capabilities_baseline": capabilities.add may only hold the container runtime's default set.
allowed_capabilities := {
	"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}

violation contains pss.container_violation(c, ["securityContext", "capabilities", "add", i], sprintf("adds the non-default capability %v. Only the runtime's default capabilities may be added.", [cap]))
if {
	some c in workload.containers
	some i, cap in util.list(c.container, ["securityContext", "capabilities", "add"])
	not cap in allowed_capabilities
}
