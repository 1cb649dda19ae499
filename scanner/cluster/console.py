"""Terminal output of `kguard audit` on stderr: a listing progress display (TTY only) and the summaries.

Names from the cluster and the kubeconfig are shown through `safe_text` (control characters escaped) as Rich `Text`
(never markup), and printed output goes through `guard_lines`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from scanner.cluster.read import Progress
from scanner.report.safe import guard_lines, safe_text


@contextmanager
def listing_progress(enabled: bool) -> Iterator[Progress | None]:
    """A live "listed N objects" status on stderr while the audit reads the cluster; nothing when not a TTY."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.text import Text

    console = Console(stderr=True)
    total = 0
    with console.status("reading the cluster", spinner="dots") as status:

        def on_listed(what: str, count: int) -> None:
            nonlocal total
            if count < 0:
                status.update(Text(safe_text(what)))
                return
            total += count
            status.update(Text(f"reading the cluster: {total} objects (last: {count} {safe_text(what)})"))

        yield on_listed


def print_summary(audit: Any, quiet: bool) -> None:
    """Per-namespace objects/findings and the coverage verdict, on stderr; with ``quiet`` only the coverage gaps."""
    if quiet:
        from scanner.report._common import coverage_text

        for gap in audit.result.coverage:  # never silent, whatever the output format
            print(f"kguard: coverage gap: {safe_text(coverage_text(gap))}", file=sys.stderr)
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from scanner.cluster.audit import namespace_summary

    snap = audit.snapshot
    console = Console(stderr=True, soft_wrap=True)
    table = Table(title=Text(f"cluster {safe_text(snap.context)} ({safe_text(snap.server)})"), title_justify="left")
    for column, justify in (("namespace", "left"), ("objects", "right"), ("findings", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for namespace, objects, findings in namespace_summary(audit):
        table.add_row(Text(safe_text(namespace)), str(objects), str(findings))
    with console.capture() as capture:
        console.print(table)
        gaps = snap.coverage
        if gaps:
            console.print(f"[yellow]coverage incomplete:[/] {len(gaps)} kind/namespace(s) could not be read "
                          "(see the report's coverage section)")
        else:
            console.print("coverage: complete (every planned kind was read)")
        if audit.mapped:
            console.print(f"{audit.mapped} finding(s) mapped to Git manifests")
    console.file.write(guard_lines(capture.get()))
    console.file.flush()
