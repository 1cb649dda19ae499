package kguard.segmentation.allow_all_egress

import data.lib.netpol
import data.lib.util

# Reviewed: NetworkPolicies. An empty rule ({}) or a peer with namespaceSelector: {} (and no podSelector
# restriction) allows egress everywhere. Internet ipBlocks and DNS-only rules have their own rules
# (seg-egress-internet, seg-egress-dns-unrestricted).
violation contains {
	"msg": sprintf("%s allows all egress in rule %d (empty rule: any destination, any port). Restrict the rule with to peers and ports.", [util.display(policy), i]),
	"details": {"field_path": ["spec", "egress", i]},
}
if {
	policy := input.review.object
	some i, rule in util.list(policy, ["spec", "egress"])
	count(util.list(rule, ["to"])) == 0
	count(util.list(rule, ["ports"])) == 0
}

violation contains {
	"msg": sprintf("%s allows egress to every namespace in rule %d (namespaceSelector: {}). Select the destination namespaces and pods explicitly.", [util.display(policy), i]),
	"details": {"field_path": ["spec", "egress", i, "to", j, "namespaceSelector"]},
}
if {
	policy := input.review.object
	some i, rule in util.list(policy, ["spec", "egress"])
	not netpol.is_dns_only(rule)
	some j, peer in util.list(rule, ["to"])
	netpol.is_any_namespace_peer(peer)
}
