package kguard.segmentation.egress_internet

import data.lib.netpol
import data.lib.util

# Reviewed: NetworkPolicies. DNS-only rules are left to seg-egress-dns-unrestricted, empty rules to
# seg-allow-all-egress.
private_ranges := {
	"0.0.0.0/0": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
	"::/0": ["fc00::/7"],
}

violation contains {
	"msg": sprintf("%s allows egress to %s in rule %d without excluding the private ranges. Pods can reach any internal network and any internet host.", [util.display(policy), cidr, i]),
	"details": {"field_path": ["spec", "egress", i, "to", j, "ipBlock"]},
}
if {
	policy := input.review.object
	some i, rule in util.list(policy, ["spec", "egress"])
	not netpol.is_dns_only(rule)
	some j, peer in util.list(rule, ["to"])
	cidr := util.str(peer, ["ipBlock", "cidr"])
	some range in private_ranges[cidr]
	not excluded(util.list(peer, ["ipBlock", "except"]), range)
}

violation contains {
	"msg": sprintf("%s allows egress to any destination on the listed ports in rule %d. Add to peers for the destinations the pods need.", [util.display(policy), i]),
	"details": {"field_path": ["spec", "egress", i]},
}
if {
	policy := input.review.object
	some i, rule in util.list(policy, ["spec", "egress"])
	count(util.list(rule, ["to"])) == 0
	count(util.list(rule, ["ports"])) > 0
	not netpol.is_dns_only(rule)
}

excluded(excepts, range) if {
	some except in excepts
	net.cidr_contains(except, range)
}
