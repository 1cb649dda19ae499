package kguard.segmentation.egress_dns_unrestricted

import data.lib.netpol
import data.lib.util

# Reviewed: NetworkPolicies. A rule that lists port 53 and whose destinations are unrestricted.
violation contains {
	"msg": sprintf("%s allows DNS (port 53) egress to any destination in rule %d. Restrict DNS to the cluster DNS pods.", [util.display(policy), i]),
	"details": {"field_path": ["spec", "egress", i, "ports"]},
}
if {
	policy := input.review.object
	some i, rule in util.list(policy, ["spec", "egress"])
	count(util.list(rule, ["ports"])) > 0
	netpol.opens_dns(rule)
	unrestricted_destination(rule)
}

unrestricted_destination(rule) if count(util.list(rule, ["to"])) == 0

unrestricted_destination(rule) if {
	some peer in util.list(rule, ["to"])
	netpol.is_any_namespace_peer(peer)
}

unrestricted_destination(rule) if {
	some peer in util.list(rule, ["to"])
	netpol.is_everywhere_block(peer)
}
