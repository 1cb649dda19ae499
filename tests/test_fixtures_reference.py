"""The Go reference tools of tools/reference keep their contracts and their Kubernetes pin."""

from __future__ import annotations

import re

import pytest

from tests.fixtures.tools import REPO_ROOT, pinned_kubernetes_version
from tests.fixtures.yaml_reference import Document, reference_documents

REFERENCE_GO_MOD = REPO_ROOT / "tools" / "reference" / "go.mod"


def test_reference_module_pins_the_control_plane_release() -> None:
    staging = "v0." + pinned_kubernetes_version().removeprefix("v1.")
    text = REFERENCE_GO_MOD.read_text()
    for module in ("k8s.io/api", "k8s.io/apimachinery", "k8s.io/pod-security-admission"):
        match = re.search(rf"^\s*{re.escape(module)} (v\S+)", text, re.MULTILINE)
        assert match is not None and match.group(1) == staging, (module, staging)


@pytest.mark.integration
def test_yaml_reference_splits_like_kubectl() -> None:
    stream = "a: 1\n---\n---\n# only a comment\n--- # a comment after the separator\nb: [1, '<x>', yes]\n"
    assert reference_documents(stream) == [Document(value={"a": 1}), Document(value=None),
                                           Document(value={"b": [1, "<x>", True]})]


@pytest.mark.integration
def test_yaml_reference_reports_bad_documents_and_goes_on() -> None:
    documents = reference_documents("a: [1\n---\nb: 2\n")
    assert documents[0].error and documents[0].value is None
    assert documents[1:] == [Document(value={"b": 2})]


@pytest.mark.integration
def test_yaml_reference_stops_at_a_bad_separator() -> None:
    documents = reference_documents("a: 1\n---\nb: 2\n--- c: 3\nd: 4\n")
    assert documents[0] == Document(value={"a": 1})
    assert len(documents) == 2 and "separator" in (documents[1].error or "")
