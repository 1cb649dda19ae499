package kguard.pod_security.apparmor_profile

import data.lib.pss
import data.lib.util
import data.lib.workload

# Upstream check "appArmorProfile": appArmorProfile.type (pod and containers) must be unset, RuntimeDefault or
# Localhost; the legacy annotations container.apparmor.security.beta.kubernetes.io/* must be empty,
# runtime/default or localhost/*.
annotation_prefix := "container.apparmor.security.beta.kubernetes.io/"

# Kept local: regorus 0.13 mis-evaluates `not x in <other package>.set` next to calls into that package.
allowed_profile_types := {"RuntimeDefault", "Localhost"}

violation contains pss.pod_violation(pod, ["securityContext", "appArmorProfile", "type"], sprintf("sets the AppArmor profile type %q. Only RuntimeDefault or Localhost are allowed.", [profile_type]))
if {
	some pod in workload.pod_specs
	profile := object.get(pod.spec, ["securityContext", "appArmorProfile"], null)
	is_object(profile)
	profile_type := object.get(profile, "type", "")
	not profile_type in allowed_profile_types
}

violation contains pss.container_violation(c, ["securityContext", "appArmorProfile", "type"], sprintf("sets the AppArmor profile type %q. Only RuntimeDefault or Localhost are allowed.", [profile_type]))
if {
	some c in workload.containers
	profile := object.get(c.container, ["securityContext", "appArmorProfile"], null)
	is_object(profile)
	profile_type := object.get(profile, "type", "")
	not profile_type in allowed_profile_types
}

violation contains {
	"msg": sprintf("The pod metadata of %s sets the AppArmor annotation %s=%q. Only runtime/default or localhost/* profiles are allowed.", [workload.subject, key, value]),
	"details": {"field_path": array.concat(pod.metadata_path, ["annotations", key])},
}
if {
	some pod in workload.pod_specs
	some key, value in util.map(pod.metadata, ["annotations"])
	startswith(key, annotation_prefix)
	not allowed_annotation(value)
}

allowed_annotation(value) if value == ""
allowed_annotation(value) if value == "runtime/default"
allowed_annotation(value) if startswith(value, "localhost/")
