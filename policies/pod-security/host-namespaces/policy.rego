package kguard.pod_security.host_namespaces

import data.lib.pss
import data.lib.util
import data.lib.workload

# Upstream check "hostNamespaces": spec.hostNetwork, spec.hostPID and spec.hostIPC must be unset or false.
violation contains pss.pod_violation(pod, [field], sprintf("sets %s=true. Sharing the host's %s namespace breaks pod isolation.", [field, label]))
if {
	some pod in workload.pod_specs
	some field, label in {"hostNetwork": "network", "hostPID": "process", "hostIPC": "IPC"}
	util.is_true(pod.spec, [field])
}
