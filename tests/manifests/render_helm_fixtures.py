"""Regenerate the Helm fixtures with a real helm: `python -m tests.manifests.render_helm_fixtures`.

Needs helm v3 on PATH (e.g. `go install helm.sh/helm/v3/cmd/helm@v3.19.0`). Commit the result; the fixtures
are what the tests and `kguard scan -` read when helm is not installed.
"""

from __future__ import annotations

import subprocess

from tests.manifests.manifest_checks import ENVIRONMENTS, MANIFESTS
from tests.manifests.test_manifests_helm import fixture, helm_command


def main() -> None:
    version = subprocess.run(["helm", "version", "--template", "{{.Version}}"], capture_output=True, text=True,
                             check=True).stdout.strip()
    for chart in ("microservices", "infrastructure"):
        for env in ENVIRONMENTS:
            command = helm_command(chart, env)
            output = subprocess.run(command, cwd=MANIFESTS.parent, capture_output=True, text=True, check=True).stdout
            fixture(chart, env).write_text(f"# Rendered by Helm {version}: {' '.join(command)}\n{output}")
            print(fixture(chart, env).name)


if __name__ == "__main__":
    main()
