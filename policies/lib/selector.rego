package lib.selector

import data.lib.util

# Kubernetes label selectors (metav1.LabelSelector): matchLabels and matchExpressions with the operators In,
# NotIn, Exists and DoesNotExist. An empty selector ({}) selects everything.

matches(selector, labels) if {
	is_object(selector)
	every key, value in util.map(selector, ["matchLabels"]) {
		labels[key] == value
	}
	every expression in util.list(selector, ["matchExpressions"]) {
		expression_matches(expression, labels)
	}
}

# A selector that selects everything: {} (or only empty matchLabels / matchExpressions).
is_empty(selector) if {
	is_object(selector)
	count(util.map(selector, ["matchLabels"])) == 0
	count(util.list(selector, ["matchExpressions"])) == 0
}

expression_matches(expression, labels) if {
	expression.operator == "In"
	value := labels[expression.key]
	value in util.list(expression, ["values"])
}

expression_matches(expression, labels) if {
	expression.operator == "NotIn"
	not _has_value_in(labels, expression.key, util.list(expression, ["values"]))
}

expression_matches(expression, labels) if {
	expression.operator == "Exists"
	_has(labels, expression.key)
}

expression_matches(expression, labels) if {
	expression.operator == "DoesNotExist"
	not _has(labels, expression.key)
}

_has(labels, key) if {
	_ = labels[key]
}

_has_value_in(labels, key, values) if {
	labels[key] in values
}
