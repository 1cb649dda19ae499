package kguard.segmentation.namespace_default_deny_ingress

import data.lib.netpol
import data.lib.util

# Reviewed: Namespaces. Their NetworkPolicies are read from data.inventory.
violation contains {
	"msg": sprintf("Namespace %s has no default-deny ingress NetworkPolicy. Pods that no other policy selects accept all ingress traffic.", [name]),
	"details": {},
}
if {
	input.review.object.kind == "Namespace"
	name := util.str(input.review.object, ["metadata", "name"])
	not has_default_deny(name)
}

has_default_deny(namespace) if {
	some policy in netpol.policies_in(namespace)
	netpol.is_default_deny(policy, "Ingress")
}
