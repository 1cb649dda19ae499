package kguard.segmentation.allow_all_ingress

import data.lib.netpol
import data.lib.util

# Reviewed: NetworkPolicies. An empty rule ({}), a peer with namespaceSelector: {} (and no podSelector
# restriction), or an ipBlock of 0.0.0.0/0 or ::/0 without exceptions allows ingress from everywhere.
violation contains {
	"msg": sprintf("%s allows all ingress in rule %d (empty rule: any source, any port). Restrict the rule with from peers and ports.", [util.display(policy), i]),
	"details": {"field_path": ["spec", "ingress", i]},
}
if {
	policy := input.review.object
	some i, rule in util.list(policy, ["spec", "ingress"])
	count(util.list(rule, ["from"])) == 0
	count(util.list(rule, ["ports"])) == 0
}

violation contains {
	"msg": sprintf("%s allows ingress from every namespace in rule %d (namespaceSelector: {}). Select the client namespaces and pods explicitly.", [util.display(policy), i]),
	"details": {"field_path": ["spec", "ingress", i, "from", j, "namespaceSelector"]},
}
if {
	policy := input.review.object
	some i, rule in util.list(policy, ["spec", "ingress"])
	some j, peer in util.list(rule, ["from"])
	netpol.is_any_namespace_peer(peer)
}

violation contains {
	"msg": sprintf("%s allows ingress from any address (ipBlock %s) in rule %d. Allow specific source CIDRs instead.", [util.display(policy), peer.ipBlock.cidr, i]),
	"details": {"field_path": ["spec", "ingress", i, "from", j, "ipBlock", "cidr"]},
}
if {
	policy := input.review.object
	some i, rule in util.list(policy, ["spec", "ingress"])
	some j, peer in util.list(rule, ["from"])
	netpol.is_everywhere_block(peer)
	count(util.list(peer, ["ipBlock", "except"])) == 0
}
