package kguard.pod_security.sysctls

import data.lib.pss
import data.lib.util
import data.lib.workload

# Upstream check "sysctls": spec.securityContext.sysctls[*].name must be one of the namespaced, isolated sysctls.
allowed_sysctls := {
	"kernel.shm_rmid_forced",
	"net.ipv4.ip_local_port_range",
	"net.ipv4.tcp_syncookies",
	"net.ipv4.ping_group_range",
	"net.ipv4.ip_unprivileged_port_start",
	"net.ipv4.ip_local_reserved_ports",
	"net.ipv4.tcp_keepalive_time",
	"net.ipv4.tcp_fin_timeout",
	"net.ipv4.tcp_keepalive_intvl",
	"net.ipv4.tcp_keepalive_probes",
	"net.ipv4.tcp_rmem",
	"net.ipv4.tcp_wmem",
	"net.ipv4.tcp_slow_start_after_idle",
	"net.ipv4.tcp_notsent_lowat",
}

violation contains pss.pod_violation(pod, ["securityContext", "sysctls", i, "name"], sprintf("sets the unsafe sysctl %q. Only the safe, namespaced sysctls are allowed.", [name]))
if {
	some pod in workload.pod_specs
	some i, sysctl in util.list(pod.spec, ["securityContext", "sysctls"])
	name := util.str(sysctl, ["name"])
	not name in allowed_sysctls
}
