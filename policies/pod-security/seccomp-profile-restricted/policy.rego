package kguard.pod_security.seccomp_profile_restricted

import data.lib.pss
import data.lib.workload

# Upstream check "seccompProfile_restricted": the pod, or every container, must set seccompProfile.type to
# RuntimeDefault or Localhost; explicit other types are forbidden. Windows pods are exempt.
# Kept local: regorus 0.13 mis-evaluates `not x in <other package>.set` next to calls into that package.
allowed_profile_types := {"RuntimeDefault", "Localhost"}

# An explicit type other than RuntimeDefault/Localhost also breaks seccompProfile_baseline.
violation contains pss.violates_baseline(pss.pod_violation(pod, ["securityContext", "seccompProfile", "type"], sprintf("sets the seccomp profile type %q. Only RuntimeDefault or Localhost are allowed.", [profile_type])))
if {
	some pod in workload.pod_specs
	profile := object.get(pod.spec, ["securityContext", "seccompProfile"], null)
	is_object(profile)
	profile_type := object.get(profile, "type", "")
	not profile_type in allowed_profile_types
	not workload.is_windows(pod)
}

violation contains pss.violates_baseline(pss.container_violation(c, ["securityContext", "seccompProfile", "type"], sprintf("sets the seccomp profile type %q. Only RuntimeDefault or Localhost are allowed.", [profile_type])))
if {
	some c in workload.containers
	profile := object.get(c.container, ["securityContext", "seccompProfile"], null)
	is_object(profile)
	profile_type := object.get(profile, "type", "")
	not profile_type in allowed_profile_types
	not workload.is_windows(c.pod)
}

violation contains pss.container_violation(c, ["securityContext", "seccompProfile", "type"], "sets no seccomp profile. The pod or the container must set securityContext.seccompProfile.type to RuntimeDefault or Localhost.")
if {
	some c in workload.containers
	not is_object(object.get(c.container, ["securityContext", "seccompProfile"], null))
	not is_object(object.get(c.pod.spec, ["securityContext", "seccompProfile"], null))
	not workload.is_windows(c.pod)
}
