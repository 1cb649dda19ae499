import textwrap
from pathlib import Path

import pytest


def template(kind: str, rego: str, *, v1: bool = True, libs: tuple[str, ...] = (), schema: dict | None = None,
             annotations: dict | None = None) -> str:
    """A ConstraintTemplate as YAML text."""
    import yaml

    source = {"rego": textwrap.dedent(rego)}
    if v1:
        source["version"] = "v1"
    if libs:
        source["libs"] = [textwrap.dedent(lib) for lib in libs]
    crd = {"names": {"kind": kind}}
    if schema:
        crd["validation"] = {"openAPIV3Schema": schema}
    meta = {"name": kind.lower(), "annotations": annotations or {}}
    return yaml.safe_dump({
        "apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate", "metadata": meta,
        "spec": {"crd": {"spec": crd}, "targets": [{"target": "admission.k8s.gatekeeper.sh",
                                                   "code": [{"engine": "Rego", "source": source}]}]},
    })


def constraint(kind: str, name: str, spec: dict | None = None) -> str:
    import yaml

    return yaml.safe_dump({"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": kind,
                           "metadata": {"name": name}, "spec": spec or {}})


@pytest.fixture
def write_templates(tmp_path: Path):
    def write(*docs: str) -> str:
        directory = tmp_path / "templates"
        directory.mkdir(exist_ok=True)
        (directory / "t.yaml").write_text("---\n".join(docs))
        return str(directory)

    return write
