package kguard.pod_security.restricted_volumes

import data.lib.pss
import data.lib.util
import data.lib.workload

# Upstream check "restrictedVolumes": volumes may only be configMap, csi, downwardAPI, emptyDir, ephemeral, image,
# persistentVolumeClaim, projected or secret (a volume without a source defaults to emptyDir).
allowed_sources := {
	"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image",
	"persistentVolumeClaim", "projected", "secret",
}

violation contains volume_violation(pod, i, source, volume) if {
	some pod in workload.pod_specs
	some i, volume in util.list(pod.spec, ["volumes"])
	is_object(volume)
	sources := {key | some key, value in volume; key != "name"; value != null}
	count(sources & allowed_sources) == 0
	source := min(sources)
	object.get(volume, "hostPath", null) == null
}

volume_violation(pod, i, source, volume) := v if {
	v := pss.pod_violation(pod, ["volumes", i, source], sprintf("uses the %s volume %q. The restricted level allows only configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected and secret volumes.", [source, util.str(volume, ["name"])]))
}

# A hostPath volume also breaks hostPathVolumes (baseline).
violation contains pss.violates_baseline(volume_violation(pod, i, source, volume)) if {
	some pod in workload.pod_specs
	some i, volume in util.list(pod.spec, ["volumes"])
	is_object(volume)
	sources := {key | some key, value in volume; key != "name"; value != null}
	count(sources & allowed_sources) == 0
	source := min(sources)
	object.get(volume, "hostPath", null) != null
}
