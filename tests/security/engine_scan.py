"""Shared helpers for the attack tests: a real `kguard scan` process with its outputs gathered."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.engine.conftest import constraint, template

PRIVILEGED = """
package k8sprivileged
violation contains {"msg": msg} if {
  some c in input.review.object.spec.containers
  c.securityContext.privileged
  msg := sprintf("container %v is privileged", [c.name])
}
"""
POD = ("apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\nspec:\n  containers:\n"
       "  - name: c\n    image: nginx\n    securityContext:\n      privileged: true\n")


@dataclass(frozen=True)
class Scan:
    returncode: int
    stdout: str
    stderr: str
    report: str

    def everything(self) -> str:
        return self.stdout + self.stderr + self.report


def write_case(tmp_path: Path, *templates: str) -> Path:
    """A scan directory: the attacking templates, a harmless one that must still report, and one privileged Pod."""
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "t.yaml").write_text("---\n".join(
        [*templates, template("K8sPrivileged", PRIVILEGED), constraint("K8sPrivileged", "privileged")]))
    (tmp_path / "pod.yaml").write_text(POD)
    return tmp_path


def scan(directory: Path, engine: str, env: dict[str, str] | None = None, *extra: str) -> Scan:
    """`kguard scan pod.yaml` with the templates only, JSON report written to a file."""
    report = directory / f"report-{engine}.json"
    proc = subprocess.run(
        [sys.executable, "-m", "scanner", "scan", "pod.yaml", "--templates", "templates", "--no-default-policies",
         "--engine", engine, "--format", "json", "--output", str(report), *extra],
        cwd=directory, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}, check=False)
    return Scan(proc.returncode, proc.stdout, proc.stderr, report.read_text() if report.exists() else "")
