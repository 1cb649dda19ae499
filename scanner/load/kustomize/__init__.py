"""Kustomize overlays to `Resource` objects that blame the file and line that introduced each value.

We render with the real `kubectl kustomize` through a temporary wrapper kustomization that only adds
`buildMetadata: [originAnnotations, transformerAnnotations]`, so the user's files are never touched. The origin
annotation names the file (or generator) an object came from, the transformations annotation the kustomizations
that processed it; both are stripped before the policies see the object. A finding's field path is then traced
through the layers, outermost first: patches (strategic-merge and JSON6902, file or inline), then the
kustomization.yaml line of the transformer that sets it (images, replicas, namePrefix, namespace, labels, ...),
else the origin file's own source map. See docs/kustomize-blame.md.

Modules: `render` (kubectl, the wrapper, one-line errors), `overlay` (Resources with blame),
`origin` (build annotations), `layers` (kustomization files and their patches), `blame` (a field path through
the layers), `targets` (which patches apply), `transformers` and `generators` (claims by kustomization.yaml
lines), `sources` (YAML documents with positions), `discover` and `inputs` (which overlays, which files they read).
"""

from scanner.errors import UsageError
from scanner.load.kustomize.discover import (
    CONFIG_FILE,
    Discovery,
    affected_overlays,
    discover,
    discover_overlays,
    discover_roots,
    overlays_for,
    precommit_overlays,
)
from scanner.load.kustomize.inputs import kustomization_inputs
from scanner.load.kustomize.render import (
    KUSTOMIZATION_FILES,
    RenderError,
    kubectl_binary,
    kustomization_file,
    render,
)

# Rendering with blame (overlay, blame, origin, targets) is imported on first use: a scan of plain files, as the
# pre-commit hook's, needs discovery only.
_LAZY = {"ObjectBlame": "blame", "align": "blame", "ORIGIN_ANNOTATION": "origin",
         "TRANSFORMATIONS_ANNOTATION": "origin", "REDACTED": "overlay", "load_overlay": "overlay",
         "load_overlays": "overlay", "redact_values": "overlay", "selector_matches": "targets"}


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)


__all__ = [
    "CONFIG_FILE",
    "KUSTOMIZATION_FILES",
    "ORIGIN_ANNOTATION",
    "REDACTED",
    "TRANSFORMATIONS_ANNOTATION",
    "Discovery",
    "ObjectBlame",
    "RenderError",
    "UsageError",  # raised by discovery and kubectl_binary; re-exported for callers that catch it from here
    "affected_overlays",
    "align",
    "discover",
    "discover_overlays",
    "discover_roots",
    "kubectl_binary",
    "kustomization_file",
    "kustomization_inputs",
    "load_overlay",
    "load_overlays",
    "overlays_for",
    "precommit_overlays",
    "redact_values",
    "render",
    "selector_matches",
]
