package kguard.rbac.automount_unused_token

import data.lib.util
import data.lib.workload

# Reviewed: Pods and workloads. The ServiceAccount and every binding are read from data.inventory.
violation contains {
	"msg": sprintf("%s mounts the API token of ServiceAccount %s/%s, which has no RBAC binding. Set automountServiceAccountToken: false.", [workload.subject, namespace, account]),
	"details": {"field_path": array.concat(pod.path, ["automountServiceAccountToken"])},
}
if {
	not workload.is_controlled_pod
	some pod in workload.pod_specs
	namespace := review_namespace
	account := workload.service_account_name(pod)
	service_account(namespace, account)
	mounts_token(pod, namespace, account)
	not has_binding(namespace, account)
}

review_namespace := ns if {
	ns := util.review_namespace
	ns != ""
} else := "default"

# The pod's own setting wins; otherwise the ServiceAccount's; the default is to mount.
mounts_token(pod, _, _) if util.is_true(pod.spec, ["automountServiceAccountToken"])

mounts_token(pod, namespace, account) if {
	object.get(pod.spec, ["automountServiceAccountToken"], null) == null
	not util.is_false(service_account(namespace, account), ["automountServiceAccountToken"])
}

# The ServiceAccount as declared in the inventory. The `default` account exists in every namespace without being
# declared; any other account that is not in the inventory is outside what was scanned, so nothing is decided.
service_account(namespace, account) := sa if {
	sa := data.inventory.namespace[namespace].v1.ServiceAccount[account]
} else := {} if account == "default"

rbac_gv := "rbac.authorization.k8s.io/v1"

# Cheapest first: bindings in the account's own namespace, then cluster-wide ones, and only then the RoleBindings of
# every namespace (a RoleBinding anywhere may name the account), through the index `rolebinding_subjects`. Each
# alternative that iterates is a rule of its own: regorus' virtual machine skips an `else` after a body whose
# iteration found nothing (docs/engines.md).
has_binding(namespace, account) if {
	bound_in_namespace(namespace, account)
} else if {
	bound_cluster_wide(namespace, account)
} else if {
	rolebinding_subjects[json.marshal(["ServiceAccount", namespace, account])]
} else if {
	some group in service_account_groups(namespace)
	rolebinding_subjects[json.marshal(["Group", group])]
}

bound_in_namespace(namespace, account) if {
	some binding in object.get(data.inventory, ["namespace", namespace, rbac_gv, "RoleBinding"], {})
	binds(binding, namespace, namespace, account)
}

bound_cluster_wide(namespace, account) if {
	some binding in object.get(data.inventory, ["cluster", rbac_gv, "ClusterRoleBinding"], {})
	binds(binding, "", namespace, account)
}

binds(binding, binding_ns, namespace, account) if {
	some subject in util.list(binding, ["subjects"])
	subject.kind == "ServiceAccount"
	subject.name == account
	object.get(subject, "namespace", binding_ns) == namespace
}

binds(binding, _, namespace, _) if {
	some subject in util.list(binding, ["subjects"])
	subject.kind == "Group"
	subject.name in service_account_groups(namespace)
}

service_account_groups(namespace) := {"system:serviceaccounts", concat(":", ["system:serviceaccounts", namespace])}

# Every subject a RoleBinding in any namespace names, as {key: true}: ["ServiceAccount", namespace, name] (the
# namespace defaults to the binding's) and ["Group", name], JSON-encoded. It reads data.inventory only, never the
# reviewed object, so kguard evaluates it once per scan and hands the value back under
# data.inventory["kguard.io/precomputed"] (see docs/performance.md): without that, each review would walk every
# namespace's RoleBindings. Gatekeeper, gator and OPA have no such key and compute it where it is used.
rolebinding_subjects := precomputed if {
	precomputed := data.inventory["kguard.io/precomputed"]["kguard.rbac.automount_unused_token"].rolebinding_subjects
} else := {key: true |
	some binding_ns
	binding := data.inventory.namespace[binding_ns][rbac_gv].RoleBinding[_]
	some subject in util.list(binding, ["subjects"])
	key := subject_key(subject, binding_ns)
}

subject_key(subject, binding_ns) := json.marshal(["ServiceAccount", object.get(subject, "namespace", binding_ns), subject.name]) if {
	subject.kind == "ServiceAccount"
}

subject_key(subject, _) := json.marshal(["Group", subject.name]) if subject.kind == "Group"
