"""`kguard rules` as a table that reads at any width: one section per category, ids never cut (they are what
--select/--ignore take), titles wrapped, the Pod Security check in its own column only where there is room."""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from scanner.engine.catalogue import Rule
from scanner.report._common import category_key, category_title, safe_text
from scanner.report.safe import guard_lines

WIDE = 120  # from this width the Pod Security check gets its own column


def rules_renderable(rules: Sequence[Rule], width: int) -> Group:
    """The rules grouped by category (report order), sorted by id within each."""
    parts: list[Table | Text] = [Text(f"kguard rules ({len(rules)})", style="bold")]
    for category in sorted({r.category for r in rules}, key=category_key):
        mine = sorted((r for r in rules if r.category == category), key=lambda r: r.id)
        table = Table(title=f"{safe_text(category_title(category), prose=True)} ({len(mine)})", title_justify="left",
                      box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False)
        table.add_column("id", no_wrap=True)
        table.add_column("severity", no_wrap=True)
        table.add_column("title", ratio=1, min_width=20, overflow="fold")
        wide = width >= WIDE
        if wide:
            table.add_column("pss check", overflow="fold")
        for rule in mine:  # Text cells: policy metadata is shown literally, never read as Rich markup
            pss = ", ".join(rule.pss_check) if rule.pss_level else ""
            title = Text(safe_text(rule.title, prose=True))
            if pss and not wide:
                title.append(f" (PSS {rule.pss_level}: {safe_text(pss)})", style="dim")
            cells = [Text(safe_text(rule.id)), Text(rule.severity.label), title]
            if wide:
                cells.append(Text(safe_text(f"{rule.pss_level}: {pss}" if pss else "")))
            table.add_row(*cells)
        parts.extend((Text(), table))
    return Group(*parts)


def print_rules(rules: Sequence[Rule], console: Console) -> None:
    """Print the rules table to ``console``'s file through `guard_lines`, trailing blanks trimmed."""
    with console.capture() as capture:
        console.print(rules_renderable(rules, console.width))
    text = "".join(line.rstrip() + "\n" for line in capture.get().splitlines())
    console.file.write(guard_lines(text))
    console.file.flush()
