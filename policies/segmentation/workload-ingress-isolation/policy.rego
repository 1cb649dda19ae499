package kguard.segmentation.workload_ingress_isolation

import data.lib.netpol
import data.lib.util
import data.lib.workload

# Reviewed: Pods and workloads (not controller-owned Pods, not hostNetwork pods, which NetworkPolicy cannot isolate).
# NetworkPolicies of the namespace are read from data.inventory.
violation contains {
	"msg": sprintf("%s is not selected by any NetworkPolicy with policyType Ingress. All ingress traffic to and from its pods is allowed.", [workload.subject]),
	"details": {"field_path": array.concat(pod.metadata_path, ["labels"])},
}
if {
	not workload.is_controlled_pod
	some pod in workload.pod_specs
	not util.is_true(pod.spec, ["hostNetwork"])
	namespace := util.review_namespace
	not netpol.isolated(namespace, util.map(pod.metadata, ["labels"]), "Ingress")
}
