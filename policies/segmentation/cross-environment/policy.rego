package kguard.segmentation.cross_environment

import data.lib.netpol
import data.lib.selector
import data.lib.util

# Reviewed: NetworkPolicies in namespaces of a protected environment (parameter protectedEnvironments). Peers'
# namespaceSelectors are resolved against the Namespaces in data.inventory.
violation contains {
	"msg": sprintf("%s allows %s namespace %s (environment %s) %s the %s namespace %s. Cross-environment traffic breaks segmentation.", [util.display(policy), flow[direction], other, other_env, into[direction], env, namespace]),
	"details": {
		"field_path": ["spec", netpol.rules_field[direction], i, netpol.peers_field[direction], j, "namespaceSelector"],
		"related": [{"apiVersion": "v1", "kind": "Namespace", "name": other, "field_path": ["metadata", "labels"], "message": sprintf("environment %s", [other_env])}],
	},
}
if {
	policy := input.review.object
	namespace := util.review_namespace
	env := netpol.environment(namespace)
	env in protected
	some direction in ["Ingress", "Egress"]
	some i, rule in util.list(policy, ["spec", netpol.rules_field[direction]])
	some j, peer in util.list(rule, [netpol.peers_field[direction]])
	ns_selector := object.get(peer, "namespaceSelector", null)
	is_object(ns_selector)
	some other in candidates(ns_selector)
	other != namespace
	selector.matches(ns_selector, netpol.namespace_labels(other))
	other_env := netpol.environment(other)
	other_env != ""
	other_env != env
}

# The Namespaces in data.inventory a namespaceSelector can select. Every Namespace carries the label
# kubernetes.io/metadata.name with its own name, so a selector that requires that label (the usual way to name one
# namespace) can select only the namespace it names: looked up directly instead of testing every Namespace.
candidates(ns_selector) := {name |
	name := util.map(ns_selector, ["matchLabels"])["kubernetes.io/metadata.name"]
	_ = data.inventory.cluster.v1.Namespace[name]
} if {
	_ = util.map(ns_selector, ["matchLabels"])["kubernetes.io/metadata.name"]
} else := object.keys(object.get(data.inventory, ["cluster", "v1", "Namespace"], {}))

flow := {"Ingress": "ingress from", "Egress": "egress to"}

into := {"Ingress": "into", "Egress": "from"}

protected := {e | some e in util.list(input, ["parameters", "protectedEnvironments"])}
