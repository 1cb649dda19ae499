package kguard.pod_security.host_path_volumes

import data.lib.pss
import data.lib.util
import data.lib.workload

# Upstream check "hostPathVolumes": spec.volumes[*].hostPath must be unset.
violation contains pss.pod_violation(pod, ["volumes", i, "hostPath"], sprintf("mounts the hostPath volume %q. hostPath volumes expose the node's filesystem.", [util.str(volume, ["name"])]))
if {
	some pod in workload.pod_specs
	some i, volume in util.list(pod.spec, ["volumes"])
	is_object(object.get(volume, "hostPath", null))
}
