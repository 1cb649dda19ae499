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

violation contains add_violation(c, i, cap) if {
	some c in workload.containers
	some i, cap in util.list(c.container, ["securityContext", "capabilities", "add"])
	cap != "NET_BIND_SERVICE"
	runtime_default(cap)
	not workload.is_windows(c.pod)
}

# A capability outside the runtime's default set also breaks capabilities_baseline.
violation contains pss.violates_baseline(add_violation(c, i, cap)) if {
	some c in workload.containers
	some i, cap in util.list(c.container, ["securityContext", "capabilities", "add"])
	not runtime_default(cap)
	not workload.is_windows(c.pod)
}

add_violation(c, i, cap) := pss.container_violation(c, ["securityContext", "capabilities", "add", i], sprintf("adds the capability %v. The restricted level allows adding only NET_BIND_SERVICE.", [cap]))

# The container runtime's default capabilities (what capabilities_baseline allows adding). Kept local: regorus 0.13
# mis-evaluates `not x in <other package>.set` next to calls into that package.
runtime_default(cap) if cap in {
	"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}
