package lib.netpol

import data.lib.selector
import data.lib.util

# NetworkPolicy semantics (networking.k8s.io/v1) over data.inventory.

group_version := "networking.k8s.io/v1"

# NetworkPolicies of a namespace from the inventory: {name: policy}.
policies_in(namespace) := object.get(data.inventory, ["namespace", namespace, group_version, "NetworkPolicy"], {})

# Effective policyTypes: as given, else Ingress plus Egress when the policy has egress rules.
policy_types(policy) := {t | some t in util.list(policy, ["spec", "policyTypes"])} if {
	count(util.list(policy, ["spec", "policyTypes"])) > 0
} else := {"Ingress", "Egress"} if {
	count(util.list(policy, ["spec", "egress"])) > 0
} else := {"Ingress"}

# The policy selects pods with these labels (a missing podSelector selects all pods, like {}).
selects(policy, labels) if selector.matches(util.map(policy, ["spec", "podSelector"]), labels)

# Pods with `labels` in `namespace` are isolated for `direction` ("Ingress" / "Egress") by some policy.
isolated(namespace, labels, direction) if {
	some policy in policies_in(namespace)
	direction in policy_types(policy)
	selects(policy, labels)
}

# A default-deny policy for `direction`: selects every pod, has the type and no rules for it.
is_default_deny(policy, direction) if {
	selector.is_empty(util.map(policy, ["spec", "podSelector"]))
	direction in policy_types(policy)
	count(util.list(policy, ["spec", rules_field[direction]])) == 0
}

rules_field := {"Ingress": "ingress", "Egress": "egress"}

peers_field := {"Ingress": "from", "Egress": "to"}

# The labels of a namespace from the inventory, with the automatic kubernetes.io/metadata.name label.
namespace_labels(name) := object.union(
	util.map(object.get(data.inventory, ["cluster", "v1", "Namespace", name], {}), ["metadata", "labels"]),
	{"kubernetes.io/metadata.name": name},
)

# A peer that selects every pod in every namespace: namespaceSelector {} with no (or an empty) podSelector.
is_any_namespace_peer(peer) if {
	selector.is_empty(object.get(peer, "namespaceSelector", null))
	selector.is_empty(object.get(peer, "podSelector", {}))
}

# An ipBlock covering every address.
is_everywhere_block(peer) if util.str(peer, ["ipBlock", "cidr"]) in {"0.0.0.0/0", "::/0"}

# The rule's ports are all DNS (53) and there is at least one.
is_dns_only(rule) if {
	ports := util.list(rule, ["ports"])
	count(ports) > 0
	every port in ports {
		object.get(port, "port", null) in {53, "53", "dns", "dns-tcp"}
	}
}

# The rule opens DNS (port 53), or all ports.
opens_dns(rule) if count(util.list(rule, ["ports"])) == 0

opens_dns(rule) if {
	some port in util.list(rule, ["ports"])
	object.get(port, "port", null) in {53, "53", "dns", "dns-tcp"}
}

# The environment of a namespace: its `environment` label, else guessed from its name.
environment(name) := env if {
	env := util.str(namespace_labels(name), ["environment"])
	env != ""
} else := "production" if {
	contains(name, "prod")
} else := "staging" if {
	contains(name, "stag")
} else := "development" if {
	contains(name, "dev")
} else := ""
