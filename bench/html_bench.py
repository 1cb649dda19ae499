"""HTML report at scale: a 5,000-finding report (250 real files for the snippets, both graphs) rendered and loaded in
headless Chromium. Prints the render time, the file size and the browser's load and script times.

Usage: python bench/html_bench.py [--findings 5000] [--repeat 3] [--keep DIR]
Needs Debian's chromium and chromium-driver (see .ci/run) and selenium (the test extra).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scanner.model import Finding, Location, ResourceId, ScanResult, Severity

RULES = ("pss-privileged", "pss-run-as-non-root", "seg-workload-ingress-isolation", "rbac-wildcard-verbs",
         "seg-reachability-cross-environment", "pss-seccomp-profile-restricted", "rbac-escalation-pod-create")
CATEGORIES = {"pss": "pod-security", "seg": "segmentation", "rbac": "rbac"}
ENVIRONMENTS = ("development", "staging", "production")


def write_files(root: Path, files: int) -> list[str]:
    """``files`` manifests of 60 lines each under ``root``; their repository-relative paths."""
    paths = []
    for i in range(files):
        path = Path("manifests") / f"team-{i % 25:02d}" / f"app-{i:03d}.yaml"
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        body = [f"# app {i}", "apiVersion: apps/v1", "kind: Deployment", "metadata:", f"  name: app-{i}"]
        body += [f"  # line {n}: securityContext: {{privileged: true}}" for n in range(6, 61)]
        (root / path).write_text("\n".join(body) + "\n")
        paths.append(path.as_posix())
    return paths


def large_result(root: Path, findings: int = 5000, files: int = 250) -> ScanResult:
    """A deterministic result with ``findings`` findings over real files in ``root`` and graphs of a realistic size."""
    paths = write_files(root, files)
    out = []
    for i in range(findings):
        rule = RULES[i % len(RULES)]
        namespace = f"team-{i % 25:02d}-{ENVIRONMENTS[i % 3]}"
        resource = ResourceId(api_version="apps/v1", kind="Deployment", name=f"app-{i % 997}", namespace=namespace)
        line = 6 + (i * 7) % 50
        out.append(Finding(
            rule_id=rule, severity=Severity(4 - i % 5), category=CATEGORIES[rule.split("-")[0]], tags=(),
            message=f"Container app-{i} of Deployment {namespace}/app-{i % 997} breaks {rule} (case {i})",
            resource=resource, remediation="Set the field as the rule's documentation says.",
            location=Location(path=paths[i % files], line=line, column=3, end_line=line, end_column=20),
            fingerprint=f"{i:032x}"))
    groups, edges = [], []
    for i in range(90):
        groups.append({"id": f"g{i}", "namespace": f"team-{i % 10:02d}-{ENVIRONMENTS[i % 3]}",
                       "workloads": [f"Deployment app-{i}"], "ingress_isolated": i % 4 != 0,
                       "egress_isolated": i % 2 == 0})
    for i in range(90):
        for step in (1, 7, 31):
            j = (i + step) % 90
            edges.append({"source": f"g{i}", "destination": f"g{j}", "ports": "TCP/8080",
                          "cross_environment": i % 3 != j % 3})
    namespaces = sorted({g["namespace"] for g in groups})
    paths_ = [{"rule": "rbac-escalation-pod-create", "severity": "critical" if i % 3 == 0 else "high",
               "subject": f"ServiceAccount team-{i:02d}/ci", "binding": f"RoleBinding team-{i:02d}/ci-deploys",
               "role": "ClusterRole edit", "permission": "create on pods",
               "action": f"can create pods in team-{i:02d} and so act as",
               "target": f"ServiceAccount team-{i:02d}/operator",
               "gains": "every permission (cluster-admin equivalent) cluster-wide" if i % 3 == 0
               else f"read access to Secrets in namespace team-{i:02d}",
               "gains_via": "ClusterRoleBinding operators", "more": 0} for i in range(40)]
    return ScanResult(
        findings=out, scanned=paths, resources=files * 4, category="kguard",
        settings={"policies": {"source": "policies", "sha256": "ab" * 32}},
        graphs={"reachability": {"namespaces": [{"name": n, "environment": n.rsplit("-", 1)[1]} for n in namespaces],
                                 "groups": groups, "edges": edges},
                "rbac": {"paths": paths_}},
    )


def load_in_chromium(page: Path, repeat: int) -> dict[str, float]:
    """Median over ``repeat`` loads: wall time of the navigation, load event and the report script's own time."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(arg)
    options.binary_location = shutil.which("chromium") or "chromium"
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "chromedriver"), options=options)
    walls, loads, scripts, rows = [], [], [], 0
    try:
        for _ in range(repeat):
            started = time.perf_counter()
            driver.get(page.as_uri())
            WebDriverWait(driver, 60).until(lambda d: d.execute_script("return document.body.dataset.ready === '1'"))
            walls.append(time.perf_counter() - started)
            loads.append(driver.execute_script(
                "return performance.getEntriesByType('navigation')[0].loadEventEnd") / 1000)
            scripts.append(float(driver.execute_script("return document.body.dataset.renderMs")) / 1000)
            rows = driver.execute_script("return document.querySelectorAll('#findings-table tr.row').length")
    finally:
        driver.quit()
    return {"wall_s": statistics.median(walls), "load_event_s": statistics.median(loads),
            "script_done_s": statistics.median(scripts), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="write the report here instead of a temporary directory")
    args = parser.parse_args()
    from scanner.report import html

    with tempfile.TemporaryDirectory(prefix="kguard-html-bench-") as tmp:
        root = Path(tmp)
        result = large_result(root, args.findings)
        from scanner.report.html_graphs import render_svg

        started = time.perf_counter()
        render_svg("digraph { a -> b }")  # loads Graphviz's WebAssembly (compiled, or from wasmtime's cache)
        warm_up_s = time.perf_counter() - started
        cwd = Path.cwd()
        os.chdir(root)
        try:
            started = time.perf_counter()
            text = html.render(result, root=root, link_base="https://github.com/acme/shop/blob/" + "0" * 40)
            render_s = time.perf_counter() - started
        finally:
            os.chdir(cwd)
        page = (args.keep or root) / "kguard.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(text, encoding="utf-8")
        size = page.stat().st_size
        loaded = load_in_chromium(page, args.repeat)
    print(f"findings            {args.findings}")
    print(f"graphviz warm-up    {warm_up_s:.2f} s (once per process; seconds without wasmtime's compile cache)")
    print(f"render (python)     {render_s:.2f} s (findings, snippets, both graphs)")
    print(f"file size           {size:,} bytes ({size / 1024 / 1024:.2f} MiB)")
    print(f"chromium load       {loaded['wall_s']:.2f} s wall, load event at {loaded['load_event_s']:.2f} s, "
          f"table built at {loaded['script_done_s']:.2f} s (median of {args.repeat})")
    print(f"rows in the table   {loaded['rows']}")


if __name__ == "__main__":
    main()
