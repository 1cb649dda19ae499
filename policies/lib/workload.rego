package lib.workload

import data.lib.util

# Pod specs of the reviewed object, each {"spec", "path", "metadata", "metadata_path"}: `path` leads from the
# object root to the pod spec, `metadata_path` to the pod metadata (labels, annotations).

_template_kinds := {
	"apps": {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"},
	"extensions": {"Deployment", "DaemonSet", "ReplicaSet"},
	"": {"ReplicationController"},
	"batch": {"Job"},
	"argoproj.io": {"Rollout"},
}

object_group(obj) := group if {
	api_version := util.str(obj, ["apiVersion"])
	contains(api_version, "/")
	group := split(api_version, "/")[0]
} else := ""

pod_specs contains pod if {
	obj := input.review.object
	obj.kind == "Pod"
	object_group(obj) == ""
	spec := util.map(obj, ["spec"])
	pod := {"spec": spec, "path": ["spec"], "metadata": util.map(obj, ["metadata"]), "metadata_path": ["metadata"]}
}

pod_specs contains pod if {
	obj := input.review.object
	obj.kind in _template_kinds[object_group(obj)]
	template := util.map(obj, ["spec", "template"])
	count(template) > 0 # an Argo Rollout with spec.workloadRef has no template
	pod := {
		"spec": util.map(template, ["spec"]),
		"path": ["spec", "template", "spec"],
		"metadata": util.map(template, ["metadata"]),
		"metadata_path": ["spec", "template", "metadata"],
	}
}

pod_specs contains pod if {
	obj := input.review.object
	obj.kind == "PodTemplate"
	object_group(obj) == ""
	template := util.map(obj, ["template"])
	pod := {
		"spec": util.map(template, ["spec"]),
		"path": ["template", "spec"],
		"metadata": util.map(template, ["metadata"]),
		"metadata_path": ["template", "metadata"],
	}
}

pod_specs contains pod if {
	obj := input.review.object
	obj.kind == "CronJob"
	object_group(obj) == "batch"
	template := util.map(obj, ["spec", "jobTemplate", "spec", "template"])
	pod := {
		"spec": util.map(template, ["spec"]),
		"path": ["spec", "jobTemplate", "spec", "template", "spec"],
		"metadata": util.map(template, ["metadata"]),
		"metadata_path": ["spec", "jobTemplate", "spec", "template", "metadata"],
	}
}

# Whether the reviewed object carries a pod spec at all.
is_workload if count(pod_specs) > 0

container_fields := ["initContainers", "containers", "ephemeralContainers"]

# Every container of every pod spec: {"container", "name", "field", "index", "path", "pod"}.
containers contains c if {
	some pod in pod_specs
	some field in container_fields
	some i, container in util.list(pod.spec, [field])
	is_object(container)
	c := {
		"container": container,
		"name": util.str(container, ["name"]),
		"field": field,
		"index": i,
		"path": array.concat(pod.path, [field, i]),
		"pod": pod,
	}
}

# The security context of a container ({} when unset).
security_context(c) := util.map(c.container, ["securityContext"])

# The pod-level security context ({} when unset).
pod_security_context(pod) := util.map(pod.spec, ["securityContext"])

# "container \"app\"", "init container \"setup\"", "ephemeral container \"debug\"".
describe(c) := sprintf("%s %q", [_container_word[c.field], c.name])

_container_word := {
	"containers": "container",
	"initContainers": "init container",
	"ephemeralContainers": "ephemeral container",
}

# Windows pods (spec.os.name == "windows").
is_windows(pod) if util.str(pod.spec, ["os", "name"]) == "windows"

# Pods in a user namespace (spec.hostUsers == false).
in_user_namespace(pod) if util.is_false(pod.spec, ["hostUsers"])

# The reviewed object's display name, e.g. "Deployment shop/api".
subject := util.display(input.review.object)

# A Pod created by a controller (its owner is reviewed instead).
is_controlled_pod if {
	input.review.object.kind == "Pod"
	some owner in util.list(input.review.object, ["metadata", "ownerReferences"])
	owner.controller == true
}

# The ServiceAccount name a pod spec runs as.
service_account_name(pod) := name if {
	name := util.str(pod.spec, ["serviceAccountName"])
	name != ""
} else := name if {
	name := util.str(pod.spec, ["serviceAccount"])
	name != ""
} else := "default"
