package lib.util

# Null-safe accessors: manifests may hold `null` or a wrong type where a list or map is expected.

# list(obj, path) is the array at path below obj, or [] when it is missing or not an array.
list(obj, path) := value if {
	value := object.get(obj, path, [])
	is_array(value)
} else := []

# map(obj, path) is the object at path below obj, or {} when it is missing or not an object.
map(obj, path) := value if {
	value := object.get(obj, path, {})
	is_object(value)
} else := {}

# str(obj, path) is the string at path below obj, or "" when it is missing or not a string.
str(obj, path) := value if {
	value := object.get(obj, path, "")
	is_string(value)
} else := ""

# is_true(obj, path) holds when the field at path is the boolean true.
is_true(obj, path) if object.get(obj, path, false) == true

# is_false(obj, path) holds when the field at path is the boolean false.
is_false(obj, path) if object.get(obj, path, true) == false

# The reviewed object's display name: "Kind namespace/name" or "Kind name".
display(obj) := sprintf("%s %s/%s", [obj.kind, ns, name]) if {
	ns := str(obj, ["metadata", "namespace"])
	ns != ""
	name := str(obj, ["metadata", "name"])
} else := sprintf("%s %s", [str(obj, ["kind"]), str(obj, ["metadata", "name"])])

# The namespace a review is about ("" for cluster-scoped objects).
review_namespace := ns if {
	ns := input.review.namespace
	is_string(ns)
	ns != ""
} else := str(input.review.object, ["metadata", "namespace"])

# Whether the inventory object `other` is the reviewed object itself.
is_reviewed(other) if {
	other.kind == input.review.object.kind
	str(other, ["metadata", "name"]) == str(input.review.object, ["metadata", "name"])
	str(other, ["metadata", "namespace"]) == str(input.review.object, ["metadata", "namespace"])
}
