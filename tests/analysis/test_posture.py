"""Input posture: namespaces labelled below the default Pod Security level, duplicate objects."""

from __future__ import annotations

from scanner.analysis.context import AnalysisContext
from scanner.analysis.posture import analyse
from scanner.load.files import load_text
from scanner.model import Severity
from scanner.scan import ScanOptions, scan_resources


def namespace(name: str, level: str | None = None, annotations: str = "") -> str:
    labels = f"\n  labels:\n    pod-security.kubernetes.io/enforce: {level}" if level else ""
    return f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}{labels}{annotations}\n"


def findings(*docs: str, default: str = "restricted"):
    loaded = load_text("---\n".join(docs), "ns.yaml")
    assert not loaded.errors
    return analyse(loaded.resources, AnalysisContext(default_pss_level=default))[0]


def test_a_namespace_below_the_default_level_is_a_high_finding_at_its_label():
    (finding,) = findings(namespace("a"), namespace("b", "restricted"), namespace("c", "privileged"),
                          namespace("d", "bogus"))
    assert finding.rule_id == "pss-namespace-level-lowered" and finding.severity is Severity.HIGH
    assert finding.resource.name == "c" and finding.location.line == 18  # the label line of the third document
    assert finding.field_path == ("metadata", "labels", "pod-security.kubernetes.io/enforce")


def test_lowering_is_relative_to_the_default_level():
    assert [f.resource.name for f in findings(namespace("b", "baseline"), namespace("p", "privileged"),
                                              default="baseline")] == ["p"]
    assert findings(namespace("p", "privileged"), default="privileged") == []


def test_the_exception_needs_a_suppression_with_a_reason():
    reviewed = namespace("tools", "privileged",
                         "\n  annotations:\n    kguard.io/ignore: 'pss-namespace-level-lowered: node agents need host access'")
    loaded = load_text(reviewed, "ns.yaml")
    result = scan_resources(loaded.resources, ScanOptions(select=["pss-namespace-level-lowered"]))
    (finding,) = result.findings
    assert finding.suppressed and finding.suppression.justification == "node agents need host access"
    assert result.exit_code(Severity.HIGH) == 0


def test_duplicates_are_reported_with_the_first_copy_related():
    dup = findings(namespace("a"), namespace("a", "privileged"), default="privileged")
    (finding,) = dup
    assert finding.rule_id == "input-duplicate-object" and finding.location.line == 6
    (related,) = finding.related
    assert related.location is not None and related.location.line == 1
    assert "ns.yaml:1" in finding.message


def _names(found) -> list[tuple[str, str]]:
    return [(f.rule_id, f.resource.name) for f in found]


def test_only_v1_namespaces_lower_the_level_and_an_invalid_level_counts_as_restricted():
    for group in ("example.com", "zeta.example.com"):  # a look-alike kind of a group sorting before or after v1
        assert findings(namespace("x", "privileged").replace("apiVersion: v1", f"apiVersion: {group}/v1")) == []
    labelled = "apiVersion: v1\nkind: {kind}\nmetadata:\n  name: o\n  labels:\n" \
               "    pod-security.kubernetes.io/enforce: privileged\n"
    for kind in ("ConfigMap", "ServiceAccount"):  # the label means nothing on other objects
        assert findings(labelled.format(kind=kind)) == []
    # whatever comes before it, a lowered Namespace is found
    assert _names(findings(labelled.format(kind="ConfigMap"), namespace("p", "privileged"))) == [
        ("pss-namespace-level-lowered", "p")]
    # a level above the default is no lowering
    assert findings(namespace("r", "restricted"), default="baseline") == []
    # upstream Pod Security admission reads an invalid level as restricted: never below a default
    assert findings(namespace("d", "bogus"), default="baseline") == []
    assert findings(namespace("d", "Privileged"), default="baseline") == []


def test_duplicates_are_the_same_group_kind_namespace_and_name():
    """The API version inside a group does not make another object; another group, kind, namespace or name does."""
    def cm(name: str, ns: str | None, api: str = "v1", kind: str = "ConfigMap") -> str:
        where = f"\n  namespace: {ns}" if ns else ""
        return f"apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name}{where}\n"

    deploy = "apiVersion: {api}\nkind: Deployment\nmetadata:\n  name: web\n  namespace: a\n"
    assert _names(findings(deploy.format(api="apps/v1"), deploy.format(api="apps/v1beta2"))) == [
        ("input-duplicate-object", "web")]
    assert findings(deploy.format(api="apps/v1"), deploy.format(api="extensions/v1beta1")) == []
    assert findings(cm("c", "a"), cm("c", "b"), cm("c", None), cm("d", "a"), cm("c", "a", kind="Secret")) == []
    three = findings(cm("c", "a"), cm("c", "a"), cm("c", "a"))
    assert [(f.location.line, f.related[0].location.line) for f in three] == [(7, 1), (13, 1)]


def test_objects_without_a_name_are_not_duplicates():
    nameless = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  namespace: a\n"
    assert findings(nameless, nameless) == []
    named = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: a\n"
    assert _names(findings(nameless, named, named)) == [("input-duplicate-object", "c")]


def test_objects_implied_by_pod_template_paths_are_not_duplicates():
    """Implied Pods (Gatekeeper expansion names them `<parent>-pod`) are not definitions in the input: a Deployment
    and a StatefulSet both called web imply two Pods web-pod, yet nobody defined an object twice."""
    from scanner.engine.expand import implied_pods, parse_spec

    text = "\n---\n".join(
        f"apiVersion: apps/v1\nkind: {kind}\nmetadata: {{name: web, namespace: a}}\nspec:\n  template:\n"
        "    spec:\n      containers: [{name: c, image: i}]" for kind in ("Deployment", "StatefulSet"))
    loaded = load_text(text, "apps.yaml")
    implied = implied_pods(loaded.resources, [parse_spec("Deployment=spec.template"),
                                              parse_spec("StatefulSet=spec.template")])
    assert [p.name for p in implied] == ["web-pod", "web-pod"]
    assert analyse([*loaded.resources, *implied], AnalysisContext(default_pss_level="privileged"))[0] == []


def test_findings_of_both_kinds_come_sorted_by_location():
    found = findings(namespace("z", "privileged"), namespace("a", "privileged"), namespace("a"))
    assert _names(found) == [("pss-namespace-level-lowered", "z"), ("pss-namespace-level-lowered", "a"),
                             ("input-duplicate-object", "a")]
    assert [f.location.line for f in found] == sorted(f.location.line for f in found)


def test_every_copy_of_an_object_in_one_file_is_a_finding_of_its_own():
    """A third copy in one file is a violation of its own: its fingerprint differs from the second copy's (issue 17's
    mutation run found them merged), and the first reported copy keeps the fingerprint it always had."""
    from scanner.model import fingerprint

    dupes = [f for f in findings(namespace("a"), namespace("a"), namespace("a"), namespace("a"))
             if f.rule_id == "input-duplicate-object"]
    assert [f.location.line for f in dupes] == [6, 11, 16]
    assert len({f.fingerprint for f in dupes}) == 3
    assert dupes[0].fingerprint == fingerprint("input-duplicate-object", dupes[0].resource, (), "", "ns.yaml#ns.yaml")

    lowered = [f for f in findings(namespace("p", "privileged"), namespace("p", "privileged"))
               if f.rule_id == "pss-namespace-level-lowered"]
    assert len(lowered) == 2 and lowered[0].fingerprint != lowered[1].fingerprint
    assert lowered[0].fingerprint == fingerprint("pss-namespace-level-lowered", lowered[0].resource,
                                                 lowered[0].field_path, "privileged", "ns.yaml")
