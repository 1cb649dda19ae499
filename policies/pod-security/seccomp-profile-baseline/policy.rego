package kguard.pod_security.seccomp_profile_baseline

import data.lib.pss
import data.lib.workload

# Upstream check "seccompProfile_baseline": a seccompProfile that is set (pod or container) must have type
# RuntimeDefault or Localhost.
# Kept local: regorus 0.13 mis-evaluates `not x in <other package>.set` next to calls into that package.
allowed_profile_types := {"RuntimeDefault", "Localhost"}

violation contains pss.pod_violation(pod, ["securityContext", "seccompProfile", "type"], sprintf("sets the seccomp profile type %q. Only RuntimeDefault or Localhost are allowed.", [profile_type]))
if {
	some pod in workload.pod_specs
	profile := object.get(pod.spec, ["securityContext", "seccompProfile"], null)
	is_object(profile)
	profile_type := object.get(profile, "type", "")
	not profile_type in allowed_profile_types
}

violation contains pss.container_violation(c, ["securityContext", "seccompProfile", "type"], sprintf("sets the seccomp profile type %q. Only RuntimeDefault or Localhost are allowed.", [profile_type]))
if {
	some c in workload.containers
	profile := object.get(c.container, ["securityContext", "seccompProfile"], null)
	is_object(profile)
	profile_type := object.get(profile, "type", "")
	not profile_type in allowed_profile_types
}
