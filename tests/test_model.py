"""Finding identity (`scanner.model.fingerprint`): what makes two findings distinct, and what must not."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.model import ResourceId, fingerprint
from scanner.scan import ScanOptions, scan_paths

WEB = ResourceId(api_version="apps/v1", kind="Deployment", name="web", namespace="staging")
PATH = ("spec", "template", "spec", "containers", 0, "securityContext", "privileged")
BASE = ("pss-privileged", WEB, PATH, 'container "app" is privileged', "a.yaml#0")


@pytest.mark.parametrize(("what", "changed"), [
    ("rule", ("pss-host-namespaces", *BASE[1:])),
    ("namespace", (BASE[0], ResourceId(api_version="apps/v1", kind="Deployment", name="web", namespace="production"),
                   *BASE[2:])),
    ("no namespace", (BASE[0], ResourceId(api_version="apps/v1", kind="Deployment", name="web"), *BASE[2:])),
    ("kind", (BASE[0], ResourceId(api_version="apps/v1", kind="StatefulSet", name="web", namespace="staging"),
              *BASE[2:])),
    ("group", (BASE[0], ResourceId(api_version="argoproj.io/v1alpha1", kind="Deployment", name="web",
                                   namespace="staging"), *BASE[2:])),
    ("name", (BASE[0], ResourceId(api_version="apps/v1", kind="Deployment", name="api", namespace="staging"),
              *BASE[2:])),
    ("field", (*BASE[:2], (*PATH[:4], 1, *PATH[5:]), *BASE[3:])),
    ("message", (*BASE[:3], 'container "sidecar" is privileged', BASE[4])),
    ("file", (*BASE[:4], "b.yaml#0")),
    ("copy in one file", (*BASE[:4], "a.yaml#1")),
])
def test_every_part_of_the_identity_keeps_findings_apart(what: str, changed: tuple) -> None:
    assert fingerprint(*changed) != fingerprint(*BASE), what


def test_the_same_finding_has_the_same_fingerprint() -> None:
    again = ResourceId(api_version="apps/v1", kind="Deployment", name="web", namespace="staging")
    assert fingerprint(*BASE) == fingerprint("pss-privileged", again, list(PATH), BASE[3], BASE[4])
    assert fingerprint(*BASE) == fingerprint(*BASE[:2], PATH, BASE[3], BASE[4])
    assert len(fingerprint(*BASE)) == 32 and int(fingerprint(*BASE), 16) >= 0
    # the version of the group does not change the identity: apps/v1beta2 and apps/v1 are one object
    moved = ResourceId(api_version="apps/v1beta2", kind="Deployment", name="web", namespace="staging")
    assert fingerprint(BASE[0], moved, *BASE[2:]) == fingerprint(*BASE)


def test_field_separators_cannot_be_forged_by_names() -> None:
    a = fingerprint("r", ResourceId(api_version="v1", kind="Pod", name="a-b", namespace="x"), ())
    b = fingerprint("r", ResourceId(api_version="v1", kind="Pod", name="b", namespace="x-a"), ())
    assert a != b
    assert fingerprint("r", WEB, ("a", "b")) != fingerprint("r", WEB, ("a.b",))
    assert fingerprint("r", WEB, (0,)) != fingerprint("r", WEB, ("0",))


PRIVILEGED_POD = """apiVersion: v1
kind: Pod
metadata: {{name: web, namespace: {ns}}}
spec:
  containers:
  - name: app
    image: nginx
    securityContext:
      privileged: true
"""


def _scan(*files: Path) -> list:
    result = scan_paths([str(f) for f in files], ScanOptions(select=["pss-privileged"], analyses=False))
    assert not result.input_errors and not result.policy_errors
    return result.findings


def test_staging_and_production_copies_stay_two_findings(tmp_path: Path) -> None:
    both = tmp_path / "both.yaml"
    both.write_text(PRIVILEGED_POD.format(ns="staging") + "---\n" + PRIVILEGED_POD.format(ns="production"))
    findings = _scan(both)
    assert sorted(f.resource.namespace for f in findings) == ["production", "staging"]
    assert len({f.fingerprint for f in findings}) == 2


def test_moved_lines_keep_the_fingerprint_and_another_file_does_not(tmp_path: Path) -> None:
    first, other = tmp_path / "a.yaml", tmp_path / "c.yaml"
    first.write_text(PRIVILEGED_POD.format(ns="staging"))
    (before,) = _scan(first)
    first.write_text("# a comment\n\n" + PRIVILEGED_POD.format(ns="staging").replace("image: nginx", "image: nginx:1"))
    (after,) = _scan(first)
    assert after.location.line == before.location.line + 2
    assert after.fingerprint == before.fingerprint
    other.write_text(PRIVILEGED_POD.format(ns="staging"))
    (elsewhere,) = _scan(other)
    assert elsewhere.fingerprint != before.fingerprint
