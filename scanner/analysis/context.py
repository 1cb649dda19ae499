"""What the scan stage tells the whole-graph analyses beyond the objects themselves."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class AnalysisContext:
    """Settings an analysis may need: the Pod Security level of namespaces without an enforce label."""

    default_pss_level: str = "restricted"
