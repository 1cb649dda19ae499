package kguard.pod_security.host_ports

import data.lib.pss
import data.lib.util
import data.lib.workload

# Upstream check "hostPorts": containers[*].ports[*].hostPort must be unset or 0.
violation contains pss.container_violation(c, ["ports", i, "hostPort"], sprintf("uses hostPort %v. Host ports bind the node's network interfaces.", [port.hostPort]))
if {
	some c in workload.containers
	some i, port in util.list(c.container, ["ports"])
	not object.get(port, "hostPort", 0) in {0, null}
}
