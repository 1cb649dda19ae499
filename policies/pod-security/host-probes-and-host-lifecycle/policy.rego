package kguard.pod_security.host_probes_and_host_lifecycle

import data.lib.pss
import data.lib.util
import data.lib.workload

# Upstream check "hostProbesAndHostLifecycle": probes and lifecycle handlers must not set httpGet.host or
# tcpSocket.host (the default is the pod IP).
handlers := [
	["livenessProbe"], ["readinessProbe"], ["startupProbe"],
	["lifecycle", "postStart"], ["lifecycle", "preStop"],
]

violation contains pss.container_violation(c, array.concat(handler, [action, "host"]), sprintf("sends its %s to the host %q. Probes and lifecycle hooks must target the pod itself (leave host unset).", [concat(".", handler), host]))
if {
	some c in workload.containers
	some handler in handlers
	probe := object.get(c.container, handler, null)
	is_object(probe)
	some action in ["httpGet", "tcpSocket"]
	host := util.str(probe, [action, "host"])
	host != ""
}
