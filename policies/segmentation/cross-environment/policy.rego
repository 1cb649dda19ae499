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
	required := required_label(ns_selector)
	some other_env, members in candidates(ns_selector)
	other_env != ""
	other_env != env
	some other, labels in members
	other != namespace
	carries(labels, required)
	selector.matches(ns_selector, labels)
}

# One matchLabels pair of a selector, [key, value] (the first key in order), or [] without matchLabels: every
# namespace the selector selects carries it, so testing it first spares the whole selector for most namespaces.
required_label(ns_selector) := sort([[key, value] | some key, value in util.map(ns_selector, ["matchLabels"])])[0] if {
	count(util.map(ns_selector, ["matchLabels"])) > 0
} else := []

carries(_, required) if count(required) == 0

carries(labels, required) if labels[required[0]] == required[1]

# The Namespaces in data.inventory a namespaceSelector may select, by environment: {environment: {name: labels}}.
# Every Namespace carries the label kubernetes.io/metadata.name with its own name, so a selector that requires that
# label (the usual way to name one namespace) can select only the namespace it names: looked up directly.
candidates(ns_selector) := named_candidates(name) if {
	name := util.map(ns_selector, ["matchLabels"])["kubernetes.io/metadata.name"]
} else := namespaces_by_environment

# The namespace called `name` by environment ({} when the inventory has none of that name; a name has one environment).
named_candidates(name) := {env: {name: labels} | some env, members in namespaces_by_environment; labels := members[name]}

# The inventory's Namespaces by environment, {environment: {name: labels}} (labels with the automatic
# kubernetes.io/metadata.name; "" for a namespace without one). It reads data.inventory only, never the reviewed
# object, so kguard evaluates it once per scan and hands the value back under data.inventory["kguard.io/precomputed"]
# (see docs/engines.md): a review then skips whole environments and never works out a namespace's labels or
# environment again. Gatekeeper, gator and OPA compute it where it is used.
namespaces_by_environment := precomputed if {
	precomputed := data.inventory["kguard.io/precomputed"]["kguard.segmentation.cross_environment"].namespaces_by_environment
} else := {env: {name: labels | some name, labels in _namespace_labels; _environment[name] == env} |
	some env in {e | some _, e in _environment}
}

_namespace_labels := {name: netpol.namespace_labels(name) |
	some name, _ in object.get(data.inventory, ["cluster", "v1", "Namespace"], {})
}

_environment := {name: netpol.environment(name) | some name, _ in _namespace_labels}

flow := {"Ingress": "ingress from", "Egress": "egress to"}

into := {"Ingress": "into", "Egress": "from"}

protected := {e | some e in util.list(input, ["parameters", "protectedEnvironments"])}
