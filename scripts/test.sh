#!/usr/bin/env bash
# Set up everything on a fresh machine and run the whole test suite (unit + integration + live cluster).
# Tools are pinned and cached outside the repository (${KGUARD_CACHE:-$HOME/.cache/kguard}), so a second run only
# checks the cache. Exit code: pytest's, except that "no tests collected" (5) is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export KGUARD_CACHE="${KGUARD_CACHE:-$HOME/.cache/kguard}"

started=$(date +%s)
step() { echo "== $* ($(( $(date +%s) - started ))s)"; }

step "python environment"
if [[ ! -x .venv/bin/python ]]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"

step "pinned tools (opa, gator, sarif-multitool)"
bash scripts/install-tools.sh
step "control plane (kube-apiserver + etcd)"
bash scripts/build-control-plane.sh
export PATH="$KGUARD_CACHE/bin:$PWD/.venv/bin:$PATH"

step "lint"
.venv/bin/ruff check .
step "gatekeeper mirror is up to date"
.venv/bin/kguard gatekeeper build --check

step "tests"
set +e
.venv/bin/python -m pytest -p no:cacheprovider "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then
    echo "pytest collected no tests: failing" >&2
    exit 1
fi
step "done (pytest exit $rc)"
exit $rc
