package kguard.pod_security.windows_host_process

import data.lib.pss
import data.lib.util
import data.lib.workload

# Upstream check "windowsHostProcess": windowsOptions.hostProcess (pod and containers) must be unset or false.
violation contains pss.pod_violation(pod, ["securityContext", "windowsOptions", "hostProcess"], "sets windowsOptions.hostProcess=true. Windows HostProcess pods have full access to the node.")
if {
	some pod in workload.pod_specs
	util.is_true(pod.spec, ["securityContext", "windowsOptions", "hostProcess"])
}

violation contains pss.container_violation(c, ["securityContext", "windowsOptions", "hostProcess"], "sets windowsOptions.hostProcess=true. Windows HostProcess containers have full access to the node.")
if {
	some c in workload.containers
	util.is_true(c.container, ["securityContext", "windowsOptions", "hostProcess"])
}
