package lib.pss

import data.lib.workload

# Helpers shared by the Pod Security Standards policies (semantics of k8s.io/pod-security-admission/policy).

# A finding about one container field: message "<Container> of <object> <text>" and the field path below the
# container (`rel`).
container_violation(c, rel, text) := {
	"msg": sprintf("%s of %s %s", [upper_first(workload.describe(c)), workload.subject, text]),
	"details": {"field_path": array.concat(c.path, rel)},
}

# A finding about a pod-level field: `rel` is the path below the pod spec.
pod_violation(pod, rel, text) := {
	"msg": sprintf("The pod spec of %s %s", [workload.subject, text]),
	"details": {"field_path": array.concat(pod.path, rel)},
}

# A violation that also breaks the baseline control this restricted check replaces (upstream's OverrideCheckIDs):
# kguard reports it at least at the replaced baseline rule's severity (template annotation kguard.io/baseline-severity).
violates_baseline(v) := object.union(v, {"details": object.union(v.details, {"violates_baseline": true})})

upper_first(s) := concat("", [upper(substring(s, 0, 1)), substring(s, 1, -1)])

