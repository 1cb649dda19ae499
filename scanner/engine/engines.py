"""The backend factory: which Rego engine evaluates. Kept apart from `scanner.engine.backend`, which the backends
themselves import (so the interface module never imports its implementations)."""

from __future__ import annotations

from scanner.engine.backend import Backend


def make_backend(name: str, opa_url: str | None = None) -> Backend:
    """The backend called ``name``: `regorus` (embedded, default) or `opa` (a server; started when no URL)."""
    if name == "regorus":
        from scanner.engine.regorus_backend import RegorusBackend

        return RegorusBackend()
    if name == "opa":
        from scanner.engine.opa_backend import OpaBackend

        return OpaBackend(url=opa_url)
    raise ValueError(f"unknown engine {name!r} (choose regorus or opa)")
