
import json

import pytest

from scanner.engine.catalogue import PSS_LABEL, PSS_LEVELS, pss_selectors
from scanner.engine.evaluate import severity_for
from scanner.engine.match import selector_matches
from scanner.engine.regorus_backend import RegorusBackend
from scanner.engine.review import inventory_kinds
from scanner.engine.templates import Template
from scanner.load.files import load_text
from scanner.model import ResourceId, Severity, fingerprint
from scanner.scan import ScanOptions, load_templates, scan_resources
from tests.engine.conftest import constraint, template

PRIVILEGED = """
package k8spriv
violation contains {"msg": msg, "details": {"field_path": ["spec", "containers", i, "securityContext", "privileged"]}} if {
  some i, c in input.review.object.spec.containers
  c.securityContext.privileged
  msg := sprintf("container %v is privileged", [c.name])
}
"""

PODS = """\
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels: {team: a}
---
apiVersion: v1
kind: Pod
metadata:
  name: bad
  namespace: shop
spec:
  containers:
  - name: ok
    image: x
  - name: root
    image: yimg
    securityContext:
      privileged: true
---
apiVersion: v1
kind: Pod
metadata:
  name: nameless-ns
spec:
  containers:
  - name: a
    image: z
"""


def scan(text: str, templates_dir: str, **options):
    loaded = load_text(text, "pods.yaml")
    opts = ScanOptions(template_dirs=[templates_dir], default_policies=False, **options)
    return scan_resources(loaded.resources, opts, loaded=loaded)


def test_finding_points_at_the_offending_field(write_templates):
    result = scan(PODS, write_templates(template("K8sPriv", PRIVILEGED), constraint("K8sPriv", "no-priv")))
    (finding,) = result.findings
    assert finding.message == "container root is privileged"
    assert (finding.location.path, finding.location.line, finding.location.column) == ("pods.yaml", 19, 7)
    assert finding.field_path == ("spec", "containers", 1, "securityContext", "privileged")
    assert finding.resource.namespace == "shop" and finding.constraint == "K8sPriv/no-priv"
    assert result.exit_code(Severity.HIGH) == 1
    assert result.exit_code(Severity.CRITICAL) == 0


def test_v0_template_with_lib_parameters_and_schema_defaults(write_templates):
    rego = """
    package k8sallowed
    import data.lib.names
    violation[{"msg": msg}] {
      c := input.review.object.spec.containers[_]
      not names.allowed(c.image, input.parameters.images)
      msg := sprintf("%v: image %v not in %v (mode %v)", [c.name, c.image, input.parameters.images, input.parameters.mode])
    }
    """
    lib = """
    package lib.names
    allowed(image, list) { image == list[_] }
    """
    schema = {"type": "object", "properties": {"images": {"type": "array", "items": {"type": "string"}},
                                                "mode": {"type": "string", "default": "strict"}}}
    tdir = write_templates(template("K8sAllowed", rego, v1=False, libs=(lib,), schema=schema),
                           constraint("K8sAllowed", "only-x", {"parameters": {"images": ["x"]}}))
    result = scan(PODS, tdir)
    messages = sorted(f.message for f in result.findings)
    assert messages == ['a: image z not in ["x"] (mode strict)', 'root: image yimg not in ["x"] (mode strict)']
    whole_object = result.findings[0]
    assert whole_object.field_path == () and whole_object.location.line == 7  # the object's first line


def test_default_namespace_and_inventory(write_templates):
    rego = """
    package k8sns
    violation contains {"msg": msg} if {
      ns := input.review.object.metadata.namespace
      not data.inventory.cluster.v1.Namespace[ns]
      msg := sprintf("namespace %v is not declared", [ns])
    }
    """
    tdir = write_templates(template("K8sNs", rego), constraint("K8sNs", "ns", {"match": {"kinds": [{"kinds": ["Pod"]}]}}))
    result = scan(PODS, tdir, default_namespace="orphans")
    assert [f.message for f in result.findings] == ["namespace orphans is not declared"]


def test_enforcement_actions_map_to_severity(write_templates):
    tdir = write_templates(template("K8sPriv", PRIVILEGED, annotations={"kguard.io/severity": "critical"}),
                           constraint("K8sPriv", "warn-only", {"enforcementAction": "warn"}))
    (finding,) = scan(PODS, tdir).findings
    assert finding.severity is Severity.MEDIUM and finding.enforcement_action == "warn"
    assert severity_for(Severity.CRITICAL, "dryrun") is Severity.INFO
    assert severity_for(Severity.LOW, "warn") is Severity.LOW


def test_missing_namespace_is_judged_unlabelled_and_said(write_templates):
    tdir = write_templates(template("K8sPriv", PRIVILEGED),
                           constraint("K8sPriv", "sel", {"match": {"namespaceSelector": {"matchLabels": {"team": "a"}}}}))
    result = scan(PODS, tdir)
    assert len(result.findings) == 1
    (note,) = result.not_evaluated
    assert "'default'" in note.reason and "no labels" in note.reason


def test_cel_only_templates_are_not_evaluated_and_say_so(write_templates):
    import yaml

    cel = yaml.safe_load(template("K8sCel", PRIVILEGED))
    cel["spec"]["targets"][0]["code"] = [{"engine": "K8sNativeValidation", "source": {"validations": []}}]
    result = scan(PODS, write_templates(yaml.safe_dump(cel), constraint("K8sCel", "c")))
    assert result.findings == []
    assert "only CEL" in result.not_evaluated[0].reason


def test_failing_policy_is_reported_and_others_still_run(write_templates):
    broken = """
    package broken
    violation contains {"msg": "x"} if { conflict }
    conflict := 1 if { true }
    conflict := 2 if { true }
    """
    tdir = write_templates(template("K8sBroken", broken), constraint("K8sBroken", "b"),
                           template("K8sPriv", PRIVILEGED), constraint("K8sPriv", "p"))
    result = scan(PODS, tdir)
    assert [f.rule_id for f in result.findings] == ["k8spriv"]
    (error,) = result.policy_errors
    assert error.policy == "K8sBroken" and "evaluation failed" in error.message
    assert result.exit_code(Severity.HIGH) == 2


def test_compile_error_is_a_policy_error(write_templates):
    tdir = write_templates(template("K8sSyntax", "package x\nviolation contains {\n"), constraint("K8sSyntax", "s"),
                           template("K8sPriv", PRIVILEGED), constraint("K8sPriv", "p"))
    result = scan(PODS, tdir)
    assert [e.policy for e in result.policy_errors] == ["K8sSyntax"]
    assert "does not compile" in result.policy_errors[0].message
    assert len(result.findings) == 1


def test_looping_policy_times_out_without_stalling_the_scan(write_templates):
    slow = """
    package slow
    violation contains {"msg": "slow"} if { count([x | some x in numbers.range(1, 200000000); x < 0]) > 0 }
    """
    tdir = write_templates(template("K8sSlow", slow), constraint("K8sSlow", "s"),
                           template("K8sPriv", PRIVILEGED), constraint("K8sPriv", "p"))
    result = scan(PODS, tdir, timeout=1.0)
    assert [e.policy for e in result.policy_errors] == ["K8sSlow"]
    assert "timed out" in result.policy_errors[0].message
    assert [f.rule_id for f in result.findings] == ["k8spriv"]


def _level(labels: dict[str, str], default: str) -> str:
    """Upstream's level of a namespace: the label, the default without it, restricted for an invalid value."""
    if PSS_LABEL not in labels:
        return default
    return labels[PSS_LABEL] if labels[PSS_LABEL] in PSS_LEVELS else "restricted"


@pytest.mark.parametrize("default", PSS_LEVELS)
@pytest.mark.parametrize("levels", [{"baseline", "restricted"}, {"restricted"}, {"baseline"}])
def test_pss_selectors_select_exactly_the_namespaces_at_those_levels(default, levels):
    selectors = pss_selectors(frozenset(levels), default)
    for labels in [{}, *({PSS_LABEL: v} for v in (*PSS_LEVELS, "Restricted", "bogus")), {"other": "x"}]:
        hits = [suffix for suffix, sel in selectors if selector_matches(sel, labels)]
        assert len(hits) == (1 if _level(labels, default) in levels else 0), (labels, selectors)


POD_IN = """apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {ns}}}
spec:
  containers:
  - name: c
    image: x
    securityContext: {{privileged: true}}
"""


def _pss_scan(namespaces: dict[str, str | None], **options) -> dict[str, list[str]]:
    docs = [f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}" +
            (f", labels: {{pod-security.kubernetes.io/enforce: {lvl}}}" if lvl else "") + "}\n"
            for ns, lvl in namespaces.items() if lvl != "missing"]
    docs += [POD_IN.format(name=f"p-{ns}", ns=ns) for ns in namespaces]
    loaded = load_text("---\n".join(docs), "x.yaml")
    result = scan_resources(loaded.resources, ScanOptions(select=["pss-*"], analyses=False, **options))
    out: dict[str, list[str]] = {}
    for f in result.findings:
        out.setdefault(f.resource.name, []).append(f.rule_id)
    return {k: sorted(v) for k, v in sorted(out.items())}


def test_namespace_enforce_label_decides_the_level_through_the_constraints():
    namespaces = {"a": None, "b": "baseline", "p": "privileged", "r": "restricted", "m": "missing", "x": "bogus"}
    at_restricted = _pss_scan(namespaces)
    assert "p-p" not in at_restricted  # privileged namespace: nothing applies
    assert at_restricted["p-b"] == ["pss-privileged"]  # baseline: only baseline checks
    for name in ("p-a", "p-r", "p-m", "p-x"):  # unlabelled, missing, invalid: restricted
        assert "pss-privileged" in at_restricted[name] and "pss-run-as-non-root" in at_restricted[name]
    at_baseline = _pss_scan(namespaces, pss_level="baseline")
    assert at_baseline["p-a"] == at_baseline["p-m"] == ["pss-privileged"]
    assert "pss-run-as-non-root" in at_baseline["p-r"] and "pss-run-as-non-root" in at_baseline["p-x"]


def test_no_implicit_exemption_and_configured_exemptions_are_listed():
    from scanner.config import Config, PodSecurityConfig

    assert "pss-privileged" in _pss_scan({"kube-system": None})["p-kube-system"]
    config = Config(pod_security=PodSecurityConfig(exempt_namespaces=("kube-system",)))
    docs = POD_IN.format(name="p", ns="kube-system")
    loaded = load_text(docs, "x.yaml")
    result = scan_resources(loaded.resources, ScanOptions(select=["pss-*"], analyses=False, config=config))
    assert result.findings == []
    (note,) = result.not_evaluated[:1]
    assert "Pod kube-system/p" in note.reason and "excluded" in note.reason and note.line == 1


def test_select_and_ignore(write_templates):
    tdir = write_templates(template("K8sPriv", PRIVILEGED), constraint("K8sPriv", "p"))
    assert len(load_templates(ScanOptions(template_dirs=[tdir], default_policies=False, ignore=["k8s*"])).templates) == 0
    with pytest.raises(Exception, match="matches no rule"):
        load_templates(ScanOptions(template_dirs=[tdir], default_policies=False, select=["nope"]))


def test_constraint_without_template_is_a_usage_error(write_templates):
    from scanner.errors import UsageError

    with pytest.raises(UsageError, match="has no ConstraintTemplate"):
        load_templates(ScanOptions(template_dirs=[write_templates(constraint("K8sMissing", "m"))],
                                   default_policies=False))


@pytest.mark.parametrize("annotation", ["kguard.io/severity", "kguard.io/baseline-severity"])
def test_a_template_severity_annotation_that_is_no_severity_is_a_usage_error_naming_the_file(write_templates,
                                                                                               annotation):
    from scanner.errors import UsageError

    tdir = write_templates(template("K8sPriv", PRIVILEGED, annotations={annotation: "bogus"}),
                           constraint("K8sPriv", "p"))
    with pytest.raises(UsageError, match=r"t\.yaml:1: invalid ConstraintTemplate: unknown severity 'bogus'"):
        load_templates(ScanOptions(template_dirs=[tdir], default_policies=False))


def test_backend_reports_compile_errors_per_template():
    backend = RegorusBackend()
    bad = Template(kind="Bad", rego="package bad\nviolation contains", rego_version="v1")
    assert "Bad" in backend.load([bad], {"cluster": {}, "namespace": {}})


def test_compile_errors_are_short_and_long_lines_are_accepted():
    backend = RegorusBackend()
    long_line = Template(kind="Long", rego='package long\nviolation contains {"msg": "x"} if { ' + "true; " * 400 + "true }\n",
                         rego_version="v1")
    bad = Template(kind="Bad", rego="package bad\nviolation contains {\n", rego_version="v1")
    errors = backend.load([long_line, bad], {"cluster": {}, "namespace": {}})
    assert list(errors) == ["Bad"]
    assert errors["Bad"].startswith("does not compile: error: ") and "backtrace" not in errors["Bad"]
    assert "(at Bad/template.rego:" in errors["Bad"]


def test_restricted_checks_replace_the_baseline_checks_they_override():
    pod = ("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\nspec:\n  volumes:\n"
           "  - name: h\n    hostPath: {path: /etc}\n  containers:\n  - name: c\n    image: x\n")
    def rule_ids(level):
        loaded = load_text(pod, "p.yaml")
        options = ScanOptions(pss_level=level, select=["pss-host-path-volumes", "pss-restricted-volumes"])
        return sorted(f.rule_id for f in scan_resources(loaded.resources, options).findings)

    assert rule_ids("baseline") == ["pss-host-path-volumes"]
    assert rule_ids("restricted") == ["pss-restricted-volumes"]


def test_without_the_restricted_check_the_baseline_check_it_replaces_runs_at_restricted_again():
    from scanner.engine.catalogue import default_policy_dir, load_catalogue, select_policies

    def selector(policies, rule_id):
        (policy,) = [p for p in policies if p.rule.id == rule_id]
        (constraint,) = policy.to_constraints()
        return constraint["spec"]["match"]["namespaceSelector"]

    catalogue = load_catalogue(default_policy_dir())
    at_restricted = {PSS_LABEL: "restricted"}
    assert not selector_matches(selector(catalogue, "pss-capabilities-baseline"), at_restricted)
    assert not selector_matches(selector(select_policies(catalogue, lambda rule: True),
                                         "pss-capabilities-baseline"), at_restricted)
    without = select_policies(catalogue, lambda rule: rule.id != "pss-capabilities-restricted")
    assert "pss-capabilities-restricted" not in {p.rule.id for p in without}
    assert selector_matches(selector(without, "pss-capabilities-baseline"), at_restricted)
    assert selector_matches(selector(without, "pss-capabilities-baseline"), {})  # unlabelled: restricted default


@pytest.mark.parametrize(("security", "blocks"), [
    ("  volumes:\n  - name: h\n    hostPath: {path: /etc}\n  containers:\n  - name: c\n    image: x\n", True),
    ("  containers:\n  - name: c\n    image: x\n    securityContext: {capabilities: {add: [SYS_ADMIN]}}\n", True),
    ("  containers:\n  - name: c\n    image: x\n    securityContext: {procMount: Unmasked}\n", False),
    ("  containers:\n  - name: c\n    image: x\n    securityContext: {seccompProfile: {type: Unconfined}}\n", False),
])
def test_baseline_harm_keeps_its_severity_when_a_restricted_check_reports_it(security, blocks):
    """The strictest level never gives a weaker gate: the restricted check that replaces a baseline one reports a
    baseline violation at least at the baseline rule's severity."""
    text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\nspec:\n" + security

    def worst(level):
        loaded = load_text(text, "p.yaml")
        result = scan_resources(loaded.resources, ScanOptions(pss_level=level, select=["pss-*"], analyses=False))
        return max(f.severity for f in result.findings), result.exit_code(Severity.HIGH)

    (at_baseline, exit_baseline), (at_restricted, exit_restricted) = worst("baseline"), worst("restricted")
    assert at_restricted >= at_baseline
    assert exit_restricted == exit_baseline == (1 if blocks else 0)


def test_restricted_only_violation_stays_at_its_own_severity():
    text = ("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\nspec:\n  containers:\n"
            "  - name: c\n    image: x\n    securityContext: {capabilities: {add: [CHOWN]}}\n")
    loaded = load_text(text, "p.yaml")
    result = scan_resources(loaded.resources, ScanOptions(select=["pss-capabilities-*"], analyses=False))
    assert {(f.rule_id, f.severity) for f in result.findings} == {("pss-capabilities-restricted", Severity.MEDIUM)}


# ---------------------------------------------------------------------------------------------------------------
# Nothing lost: every distinct violation is a finding

ROLE_TWO_PERMISSIONS = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: deployer, namespace: shop}
rules:
- apiGroups: [""]
  resources: [pods, pods/exec]
  verbs: [create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: deployer, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: deployer}
subjects:
- {kind: ServiceAccount, name: ci, namespace: shop}
"""


def test_two_violations_of_one_rule_at_one_field_are_two_findings():
    loaded = load_text(ROLE_TWO_PERMISSIONS, "rbac.yaml")
    result = scan_resources(loaded.resources, ScanOptions(select=["rbac-binding-dangerous-permissions"],
                                                          analyses=False))
    messages = sorted(f.message for f in result.findings)
    assert len(messages) == 2, messages
    assert any("exec" in m for m in messages) and any("create" in m and "pods" in m for m in messages)
    assert len({f.fingerprint for f in result.findings}) == 2


def test_same_object_in_two_files_is_judged_and_reported_twice(tmp_path):
    from scanner.scan import scan_paths

    for env in ("staging", "production"):
        (tmp_path / env).mkdir()
        (tmp_path / env / "pod.yaml").write_text(POD_IN.format(name="web", ns="shop"))
    result = scan_paths([str(tmp_path)], ScanOptions(select=["pss-privileged"], analyses=False))
    files = sorted(f.location.path for f in result.findings)
    assert len(files) == 2 and files[0] != files[1], files
    assert len({f.fingerprint for f in result.findings}) == 2
    assert len({f.occurrence for f in result.findings}) == 2


def test_suppression_applies_only_to_the_copy_that_carries_it(tmp_path):
    from scanner.scan import scan_paths

    twin = POD_IN.format(name="web", ns="shop").replace(
        "metadata: {name: web, namespace: shop}",
        "metadata: {name: web, namespace: shop, annotations: {kguard.io/ignore: 'pss-privileged: accepted on the twin'}}")
    (tmp_path / "a.yaml").write_text(POD_IN.format(name="web", ns="shop"))
    (tmp_path / "b.yaml").write_text(twin)
    from scanner.config import Config, SuppressionPolicy

    config = Config(suppressions=SuppressionPolicy(inline_max_severity=Severity.CRITICAL))  # pss-privileged is
    result = scan_paths([str(tmp_path)], ScanOptions(select=["pss-privileged"], analyses=False, config=config))
    by_file = {f.location.path.rsplit("/", 1)[-1]: f.suppressed for f in result.findings}
    assert by_file == {"a.yaml": False, "b.yaml": True}
    assert result.exit_code(Severity.HIGH) == 1


def test_extensions_v1beta1_workloads_are_judged():
    text = POD_IN.format(name="old", ns="shop").replace("apiVersion: v1\nkind: Pod", "apiVersion: extensions/v1beta1\n"
                                                          "kind: DaemonSet")
    text = text.replace("spec:\n  containers:", "spec:\n  template:\n    spec:\n      containers:").replace(
        "\n  - name: c\n    image: x\n    securityContext", "\n      - name: c\n        image: x\n        securityContext")
    loaded = load_text(text, "ds.yaml")
    result = scan_resources(loaded.resources, ScanOptions(select=["pss-privileged"], analyses=False))
    assert [f.resource.kind for f in result.findings] == ["DaemonSet"]
    assert result.findings[0].field_path[:3] == ("spec", "template", "spec")


def test_unknown_workload_kinds_are_listed_as_not_evaluated():
    text = POD_IN.format(name="w", ns="shop").replace("apiVersion: v1\nkind: Pod", "apiVersion: example.com/v1\n"
                                                        "kind: Widget")
    text = text.replace("spec:\n  containers:", "spec:\n  template:\n    spec:\n      containers:").replace(
        "\n  - name: c\n    image: x\n    securityContext", "\n      - name: c\n        image: x\n        securityContext")
    loaded = load_text(text, "w.yaml")
    result = scan_resources(loaded.resources, ScanOptions(select=["pss-*"], analyses=False))
    assert result.findings == []
    (note,) = [n for n in result.not_evaluated if "Widget" in n.reason]
    assert note.path == "w.yaml" and note.line == 1 and "--pod-template-path" in note.reason
    expanded = scan_resources(load_text(text, "w.yaml").resources, ScanOptions(
        select=["pss-privileged"], analyses=False, pod_template_paths=["Widget=spec.template"]))
    assert [f.rule_id for f in expanded.findings] == ["pss-privileged"]
    assert not any("Widget" in n.reason for n in expanded.not_evaluated)


def test_an_exempt_namespace_object_is_named_by_itself(write_templates):
    tdir = write_templates(template("K8sPriv", PRIVILEGED),
                           constraint("K8sPriv", "ex", {"match": {"excludedNamespaces": ["shop"]}}))
    result = scan(PODS, tdir)
    reasons = [n.reason for n in result.not_evaluated]
    assert any(r.startswith("Namespace shop: namespace 'shop' is excluded") for r in reasons), reasons


def test_ignoring_a_restricted_check_brings_back_the_baseline_check_it_replaces():
    """--ignore (or .kguard.yaml ignore:) of the restricted check must not leave restricted namespaces without the
    baseline one: an added SYS_ADMIN is still reported, at the baseline rule's severity."""
    text = ("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\nspec:\n  containers:\n"
            "  - name: c\n    image: x\n    securityContext: {capabilities: {add: [SYS_ADMIN]}}\n")
    options = ScanOptions(select=["pss-capabilities-*"], ignore=["pss-capabilities-restricted"], analyses=False)
    result = scan_resources(load_text(text, "p.yaml").resources, options)
    assert [(f.rule_id, f.severity) for f in result.findings] == [("pss-capabilities-baseline", Severity.HIGH)]
    assert result.exit_code(Severity.HIGH) == 1


def test_objects_in_one_namespace_are_matched_each_by_its_own_labels_and_name(write_templates):
    """Verdicts are shared between objects placed alike only where a match reads nothing else: a labelSelector
    or a name still decides per object, and constraints with the same match still each report."""
    pod = ("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: shop, labels: {{app: {app}}}}}\n"
           "spec:\n  containers:\n  - name: c\n    image: x\n    securityContext: {{privileged: true}}\n")
    text = "---\n".join(pod.format(name=name, app=app) for name, app in
                        (("web-1", "web"), ("web-2", "db"), ("db-1", "web"), ("db-2", "db")))
    kinds = {"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}]}
    tdir = write_templates(template("K8sPriv", PRIVILEGED),
                           constraint("K8sPriv", "all", {"match": kinds}),
                           constraint("K8sPriv", "again", {"match": kinds}),
                           constraint("K8sPriv", "web", {"match": {**kinds, "labelSelector": {"matchLabels": {"app": "web"}}}}),
                           constraint("K8sPriv", "named", {"match": {**kinds, "name": "db-*"}}))
    found = sorted((f.constraint.split("/")[1], f.resource.name) for f in scan(text, tdir).findings)
    assert found == sorted([*(("all", n) for n in ("web-1", "web-2", "db-1", "db-2")),
                            *(("again", n) for n in ("web-1", "web-2", "db-1", "db-2")),
                            ("web", "web-1"), ("web", "db-1"), ("named", "db-1"), ("named", "db-2")])


LOOKUP = """
package k8slookup
violation contains {"msg": msg} if {
  some ns, kinds in data.inventory.namespace
  some gv, objects in kinds
  some kind, by_name in objects
  some name, _ in by_name
  msg := sprintf("inventory holds %v %v/%v", [kind, ns, name])
}
"""

INVENTORY = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: trigger, namespace: shop}
"""


def _inventory_seen(write_templates, annotations: dict | None) -> list[str]:
    tdir = write_templates(template("K8sLookup", LOOKUP, annotations=annotations),
                           constraint("K8sLookup", "one", {"match": {"kinds": [{"kinds": ["ConfigMap"]}]}}))
    return sorted(f.message for f in scan(INVENTORY, tdir).findings)


def test_a_template_that_reads_the_inventory_without_declaring_what_sees_every_object(write_templates):
    assert _inventory_seen(write_templates, None) == ["inventory holds ConfigMap shop/trigger",
                                                      "inventory holds NetworkPolicy shop/deny",
                                                      "inventory holds Service shop/web"]
    wildcard = '[[{"groups": ["*"], "versions": ["v1"], "kinds": ["NetworkPolicy"]}]]'
    assert len(_inventory_seen(write_templates, {"metadata.gatekeeper.sh/requires-sync-data": wildcard})) == 3


def test_a_template_that_declares_what_it_reads_gets_those_kinds_in_the_inventory_as_gatekeeper_syncs_them(
        write_templates):
    declared = '[[{"groups": ["networking.k8s.io"], "versions": ["v1"], "kinds": ["NetworkPolicy"]}]]'
    seen = _inventory_seen(write_templates, {"metadata.gatekeeper.sh/requires-sync-data": declared})
    assert seen == ["inventory holds NetworkPolicy shop/deny"]


def test_inventory_kinds_are_namespaces_and_the_declared_ones():
    def tpl(requires_sync, rego="package p\nviolation contains x if { x := data.inventory }"):
        return Template(kind="K", rego=rego, requires_sync=requires_sync)

    assert inventory_kinds([tpl(((("", "ServiceAccount"),), (("apps", "Deployment"), ("", "Pod"))))]) == {
        ("", "Namespace"), ("", "ServiceAccount"), ("apps", "Deployment"), ("", "Pod")}
    assert inventory_kinds([tpl(()), tpl(None, rego="package p\nviolation contains x if { x := input }")]) == {
        ("", "Namespace")}
    assert inventory_kinds([tpl(()), tpl(None)]) is None  # reads the inventory, says nothing about what
    assert inventory_kinds([tpl(((("", "*"),),))]) is None


# -- details of evaluate() that decide identities, locations and messages --------------------------------------------

BAD_POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: bad, namespace: shop}\nspec:\n  containers:\n" \
          "  - name: root\n    image: x\n    securityContext: {privileged: true}\n"
BAD_PATH = ("spec", "containers", 0, "securityContext", "privileged")
BAD_ID = ResourceId(api_version="v1", kind="Pod", name="bad", namespace="shop")


def test_copies_of_one_object_in_one_file_are_occurrences_0_1_2(write_templates):
    """Each copy is its own occurrence (its ordinal among the objects of that identity in the file), so the
    findings never merge (scanner.model.fingerprint)."""
    tdir = write_templates(template("K8sPriv", PRIVILEGED), constraint("K8sPriv", "p"))
    result = scan("---\n".join([BAD_POD] * 3), tdir)
    assert [f.fingerprint for f in result.findings] == [
        fingerprint("k8spriv/p", BAD_ID, BAD_PATH, "container root is privileged", f"pods.yaml#{n}") for n in range(3)]


def test_a_constraint_named_after_its_rule_keeps_the_rule_s_fingerprint_and_another_gets_its_own(write_templates):
    tdir = write_templates(template("K8sPriv", PRIVILEGED), constraint("K8sPriv", "k8spriv"),
                           constraint("K8sPriv", "zz-second"), constraint("K8sPriv", "a-first"))
    result = scan(BAD_POD, tdir)
    assert sorted(f.fingerprint for f in result.findings) == sorted(
        fingerprint(rule, BAD_ID, BAD_PATH, "container root is privileged", "pods.yaml#0")
        for rule in ("k8spriv", "k8spriv/zz-second", "k8spriv/a-first"))


def test_a_field_path_that_is_not_keys_and_indices_is_ignored(write_templates):
    """docs/policy-authoring.md: details.field_path holds strings and integers; anything else (here a boolean) is
    no path, and the finding points at the object."""
    odd = """
    package odd
    violation contains {"msg": "odd", "details": {"field_path": ["spec", "containers", true]}} if { true }
    """
    tdir = write_templates(template("K8sOdd", odd), constraint("K8sOdd", "o", {"match": {"kinds": [
        {"apiGroups": [""], "kinds": ["Pod"]}]}}))
    (finding,) = scan(BAD_POD, tdir).findings
    assert finding.field_path == () and finding.location.line == 1


def test_related_objects_are_located_and_junk_entries_skipped(write_templates):
    related = """
    package rel
    violation contains {"msg": "see related", "details": {"related": [
      "junk",
      {"apiVersion": "v1", "kind": "Namespace", "name": "shop", "field_path": ["metadata", "labels"],
       "message": "its namespace"},
      {"apiVersion": "v1", "kind": "Pod", "namespace": "shop", "name": "bad", "message": "itself"},
    ]}} if { input.review.object.metadata.name == "bad" }
    """
    tdir = write_templates(template("K8sRel", related), constraint("K8sRel", "r"))
    (finding,) = scan(PODS, tdir).findings
    assert [(r.resource, r.message) for r in finding.related] == [
        (ResourceId(api_version="v1", kind="Namespace", name="shop"), "its namespace"),
        (ResourceId(api_version="v1", kind="Pod", name="bad", namespace="shop"), "itself")]
    assert [(r.location.path, r.location.line) for r in finding.related] == [("pods.yaml", 5), ("pods.yaml", 7)]


def test_the_review_carries_the_namespace_object(write_templates):
    """Gatekeeper puts the object's Namespace in input.review.namespaceObject."""
    team = """
    package team
    violation contains {"msg": sprintf("team %v", [input.review.namespaceObject.metadata.labels.team])} if {
      input.review.namespaceObject.metadata.labels.team
    }
    """
    tdir = write_templates(template("K8sTeam", team), constraint("K8sTeam", "t"))
    assert [(f.resource.name, f.message) for f in scan(PODS, tdir).findings] == [("bad", "team a")]


def test_a_cel_only_template_s_constraint_is_neither_run_nor_an_error(write_templates):
    import yaml

    cel = yaml.safe_load(template("K8sCel", PRIVILEGED))
    cel["spec"]["targets"][0]["code"] = [{"engine": "K8sNativeValidation", "source": {"validations": []}}]
    result = scan(PODS, write_templates(yaml.safe_dump(cel), constraint("K8sCel", "c"), template("K8sPriv", PRIVILEGED),
                                        constraint("K8sPriv", "p")))
    assert result.policy_errors == [] and [f.rule_id for f in result.findings] == ["k8spriv"]
    assert [n.reason for n in result.not_evaluated if "K8sCel" in n.reason] == [
        "template K8sCel has only CEL (K8sNativeValidation) code; kguard evaluates Rego"]


def test_a_constraint_scoped_away_from_scans_does_not_stop_the_next_one(write_templates):
    webhook_only = {"enforcementAction": "scoped", "scopedEnforcementActions": [
        {"action": "deny", "enforcementPoints": [{"name": "validation.gatekeeper.sh"}]}]}
    tdir = write_templates(template("K8sPriv", PRIVILEGED), constraint("K8sPriv", "a-webhook-only", webhook_only),
                           constraint("K8sPriv", "b-everywhere"))
    result = scan(PODS, tdir)
    assert [f.constraint for f in result.findings] == ["K8sPriv/b-everywhere"]
    assert any("a-webhook-only" in n.reason and "no enforcement action" in n.reason for n in result.not_evaluated)


@pytest.mark.parametrize("pods", [1, 2, 3])
def test_an_evaluation_failure_names_the_first_object_and_counts_the_others(write_templates, pods):
    broken = """
    package broken
    violation contains {"msg": "x"} if { conflict }
    conflict := 1 if { true }
    conflict := 2 if { true }
    """
    tdir = write_templates(template("K8sBroken", broken), constraint("K8sBroken", "b", {"match": {"kinds": [
        {"apiGroups": [""], "kinds": ["Pod"]}]}}))
    text = "---\n".join(BAD_POD.replace("name: bad", f"name: p{n}") for n in range(pods))
    (error,) = scan(text, tdir).policy_errors
    assert error.message.startswith("evaluation failed on Pod shop/p0: ")
    suffix = {1: "", 2: " (and 1 more)", 3: " (and 2 more)"}[pods]
    assert error.message.endswith(suffix) and error.message.count(" more)") == (pods > 1)


def test_constraints_with_different_parameters_each_judge_the_same_object_with_their_own(write_templates):
    rego = """
    package k8sparams
    violation contains {"msg": msg} if {
      msg := sprintf("%v/%v judged with %v", [input.review.namespace, input.review.object.metadata.name,
                                              input.parameters.key])
    }
    """
    tdir = write_templates(template("K8sParams", rego),
                           *(constraint("K8sParams", name, {"match": {"kinds": [{"kinds": ["Pod"]}]},
                                                            "parameters": {"key": name}})
                             for name in ("first", "second", "third")))
    messages = sorted(f.message for f in scan(PODS, tdir).findings)
    assert messages == [f"{ns}/{pod} judged with {key}" for ns, pod in (("default", "nameless-ns"), ("shop", "bad"))
                        for key in ("first", "second", "third")]


def test_units_judged_alike_share_their_constraints_and_each_review_is_kept_once(write_templates):
    from scanner.engine.evaluate import Evaluation, _plan
    from scanner.engine.review import namespaces_by_name

    tdir = write_templates(template("K8sPriv", PRIVILEGED), template("K8sParams", PRIVILEGED.replace(
                               "k8spriv", "k8sparams")),
                           constraint("K8sPriv", "a"), constraint("K8sPriv", "b"),
                           *(constraint("K8sParams", name, {"match": {"kinds": [{"kinds": ["Pod"]}]},
                                                            "parameters": {"key": name}}) for name in ("p1", "p2")))
    loaded = load_text(PODS, "pods.yaml")
    templates = load_templates(ScanOptions(template_dirs=[tdir], default_policies=False))
    plan = _plan(loaded.resources, templates, namespaces_by_name(loaded.resources), {}, Evaluation())
    pods = [r for r in loaded.resources if r.kind == "Pod"]
    by_input = {(id(u.resource), u.parameters): u for u in plan.units}
    assert len(plan.units) == len(by_input) == len(plan.inputs) == len(loaded.resources) + 2 * len(pods)
    plain = [u for u in plan.units if u.parameters == "{}"]
    # the K8sPriv constraints match every object (the Namespace too), the K8sParams ones only Pods
    assert [u.resource for u in plain] == loaded.resources
    assert plain[0].constraints is plain[1].constraints is plain[2].constraints  # one mapping, not one per unit
    assert {kind: [c.name for c in cs] for kind, cs in plain[0].constraints.items()} == {"K8sPriv": ["a", "b"]}
    assert [u.constraints["K8sParams"][0].name for u in plan.units if u.parameters != "{}"] == ["p1", "p1", "p2", "p2"]
    for index, unit in enumerate(plan.units):  # one review per object, whatever the parameters
        kinds, text = plan.inputs[index]
        assert kinds == tuple(unit.constraints)
        assert json.loads(text) == {"parameters": json.loads(unit.parameters),
                                    "review": json.loads(plan.inputs.review(unit.review))}
        assert json.loads(plan.inputs.review(unit.review))["name"] == unit.resource.name
    assert len({(id(u.resource), u.review) for u in plan.units}) == len({u.review for u in plan.units}) == 3


def test_reviews_are_compressed_only_for_large_scans_with_the_same_findings(write_templates, monkeypatch):
    from scanner.engine import evaluate as evaluate_module
    from scanner.engine.inputs import Inputs

    made: list[bool] = []
    real_init = Inputs.__init__

    def recorded(self, *, compressed: bool = True) -> None:
        made.append(compressed)
        real_init(self, compressed=compressed)

    monkeypatch.setattr(Inputs, "__init__", recorded)
    templates = write_templates(template("K8sPriv", PRIVILEGED), constraint("K8sPriv", "no-priv"))
    small = scan(PODS, templates)
    monkeypatch.setattr(evaluate_module, "SMALL_SCAN_MAX_OBJECTS", 1)
    large = scan(PODS, templates)
    # each scan: the plan's inputs (text for 3 objects, compressed above 1), then the empty one replacing them
    assert made == [False, True, True, True]
    assert [f.message for f in small.findings] == [f.message for f in large.findings] == [
        "container root is privileged"]


def _many_pods(count: int) -> str:
    namespaces = "".join(f"---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns{n}\n  labels: {{team: t{n}}}\n"
                         for n in range(3))
    pods = "".join(f"---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p{i}\n  namespace: ns{i % 3}\nspec:\n"
                   f"  containers:\n  - name: c\n    image: img{i}\n" for i in range(count))
    return namespaces + pods


def _planned_reviews(monkeypatch, write_templates, **settings) -> list[str]:
    from scanner.engine import evaluate as evaluate_module
    from scanner.engine.review import namespaces_by_name

    for name, value in settings.items():
        monkeypatch.setattr(evaluate_module, name, value)
    loaded = load_text(_many_pods(23), "pods.yaml")
    templates = load_templates(ScanOptions(template_dirs=[write_templates(template("K8sPriv", PRIVILEGED),
                                                                          constraint("K8sPriv", "a"))],
                                           default_policies=False))
    plan = evaluate_module._plan(loaded.resources, templates, namespaces_by_name(loaded.resources), {},
                                 evaluate_module.Evaluation())
    assert plan.inputs.compressed is (len(loaded.resources) > evaluate_module.SMALL_SCAN_MAX_OBJECTS)
    return [plan.inputs.review(n) for n in range(len(loaded.resources))]


def test_a_forked_child_encodes_half_the_reviews_of_a_large_scan_and_they_read_back_the_same(
        write_templates, monkeypatch):
    from scanner.load import forked

    alone = _planned_reviews(monkeypatch, write_templates, SMALL_SCAN_MAX_OBJECTS=1)
    children: list[bool] = []
    real_map_forked = forked.map_forked

    def recorded(here, child, shares):
        outcome = real_map_forked(here, child, shares)
        children.extend(items is not None for items in outcome[1])
        return outcome

    monkeypatch.setattr(forked, "map_forked", recorded)
    monkeypatch.setattr(forked, "processes_available", lambda: 2)
    shared = _planned_reviews(monkeypatch, write_templates, SMALL_SCAN_MAX_OBJECTS=1, FORKED_REVIEWS_MIN=2,
                              REVIEWS_PER_ITEM=4)
    assert children == [True]  # the child's half came back in items of 4 reviews (13 reviews: 4 items)
    assert shared == alone
    assert [json.loads(text)["object"]["metadata"]["name"] for text in shared] == [
        *(f"ns{n}" for n in range(3)), *(f"p{i}" for i in range(23))]
    # text reviews (small scans) and scans under the threshold never fork
    children.clear()
    assert _planned_reviews(monkeypatch, write_templates, SMALL_SCAN_MAX_OBJECTS=10000, FORKED_REVIEWS_MIN=2) == [
        json.dumps(json.loads(text)) for text in alone]
    assert _planned_reviews(monkeypatch, write_templates, SMALL_SCAN_MAX_OBJECTS=1, FORKED_REVIEWS_MIN=27) == alone
    assert children == []


def test_the_half_of_a_child_that_fails_is_encoded_here(write_templates, monkeypatch):
    import os

    from scanner.engine.inputs import Inputs
    from scanner.load import forked

    alone = _planned_reviews(monkeypatch, write_templates, SMALL_SCAN_MAX_OBJECTS=1)
    parent, real_encode = os.getpid(), Inputs.encode

    def failing_in_children(self, review_json):
        if os.getpid() != parent:
            raise RuntimeError("child failed")
        return real_encode(self, review_json)

    monkeypatch.setattr(Inputs, "encode", failing_in_children)
    monkeypatch.setattr(forked, "processes_available", lambda: 2)
    assert _planned_reviews(monkeypatch, write_templates, SMALL_SCAN_MAX_OBJECTS=1, FORKED_REVIEWS_MIN=2) == alone


def test_findings_made_while_the_workers_evaluate_are_those_made_afterwards(write_templates, monkeypatch):
    """Outcomes handed over as their batches arrive (in any order, a split batch's kinds apart) give the very
    findings, in the very order, and the same failures as the outcomes read after the run."""
    from scanner.engine import evaluate as evaluate_module
    from scanner.engine import runner
    from tests.engine.test_expand import WORKFLOW

    broken = """
    package broken
    violation contains {"msg": "x"} if { input.review.object.metadata.name != "p1"; conflict }
    conflict := 1 if { true }
    conflict := 2 if { true }
    """
    tdir = write_templates(template("K8sBroken", broken), constraint("K8sBroken", "b", {"match": {"kinds": [
        {"apiGroups": [""], "kinds": ["Pod"]}]}}))
    text = "---\n".join([WORKFLOW, PODS, *(BAD_POD.replace("name: bad", f"name: p{n}") for n in range(4))])
    real_run, handed_over = runner.run, []

    def shuffled(backend, units, *, on_outcomes=None, **options):
        result = real_run(backend, units, **options)
        if on_outcomes is None:
            return result
        for index, outcomes in reversed(list(result.in_order())):
            for kind in sorted(outcomes, reverse=True):
                handed_over.append((index, kind))
                on_outcomes(index, {kind: outcomes[kind]})
        return runner.RunResult(errors=result.errors)

    monkeypatch.setattr(runner, "run", shuffled)

    def scanned():
        loaded = load_text(text, "mixed.yaml")
        options = ScanOptions(template_dirs=[tdir], pod_template_paths=["Workflow=spec.steps[0].podTemplate"])
        return scan_resources(loaded.resources, options, loaded=loaded)

    meanwhile = scanned()
    assert len(handed_over) > 20 and handed_over != sorted(handed_over)
    monkeypatch.setattr(evaluate_module, "SMALL_SCAN_MAX_OBJECTS", 0)
    handed_over.clear()
    afterwards = scanned()
    assert handed_over == []
    assert meanwhile.findings == afterwards.findings and len(afterwards.findings) > 20
    assert any(f.message.startswith("[Implied by ") for f in afterwards.findings)
    assert meanwhile.policy_errors == afterwards.policy_errors
    (error,) = afterwards.policy_errors  # the first Pod in unit order named, whichever came first
    assert error.message.startswith("evaluation failed on Pod shop/bad: ") and error.message.endswith(" more)")
