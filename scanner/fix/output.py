"""What `kguard fix` prints: the changes made (or planned), what is left to a person, and the SARIF with fixes."""

from __future__ import annotations

from scanner.fix.changes import format_path
from scanner.fix.run import FixOutcome
from scanner.load.files import display_path
from scanner.report.safe import safe_text


def summary(outcome: FixOutcome, *, written: bool) -> str:
    """One line per change (file, object, change, rule), then what was not fixed and what remains."""
    lines: list[str] = []
    verb = "changed" if written else "would change"
    for placed in sorted(outcome.placed, key=lambda p: (str(p.file), p.resource, p.change.path)):
        how = " (overlay patch)" if placed.patch else ""
        lines.append(f"{verb}: {display_path(placed.file)}{how}: {placed.resource}: {placed.change.describe()} "
                     f"[{placed.change.rule_id}]")
    for item in sorted(set(outcome.not_fixed), key=lambda n: (n.resource, n.rule_id, n.reason)):
        lines.append(f"not fixed: {item.resource}: {item.rule_id}: {item.reason}")
    if written:
        for finding in sorted(outcome.remaining, key=lambda f: f.sort_key()):
            where = f"{finding.location.path}:{finding.location.line}"
            lines.append(f"remaining: {where}: {finding.rule_id}: {finding.resource.display()} "
                         f"{format_path(finding.field_path)}")
    for finding in sorted(outcome.new, key=lambda f: f.sort_key()):
        lines.append(f"new: {finding.location.path}:{finding.location.line}: {finding.rule_id} "
                     f"({finding.severity.label}): {finding.resource.display()} {format_path(finding.field_path)}")
    unjudged = {item.reason for result in outcome.before for item in result.not_evaluated
                if item.reason.startswith("no context")}
    lines.extend(f"not evaluated: {reason}" for reason in sorted(unjudged))
    lines.extend(f"error: {message}" for message in outcome.errors)
    files = len(outcome.edits)
    done = "written" if written else "planned (nothing written)"
    lines.append(f"kguard fix: {len(outcome.placed)} change(s) in {files} file(s) {done}")
    return "".join(safe_text(line) + "\n" for line in lines)


def exit_code(outcome: FixOutcome) -> int:
    """2 when a fix was rolled back, 1 when findings remain (or were only planned), else 0."""
    if outcome.errors:
        return 2
    return 1 if outcome.remaining else 0


def sarif_with_fixes(outcome: FixOutcome) -> str:
    """The findings before the fix as SARIF, each carrying the edits that fix its object."""
    from scanner.report import sarif

    log = sarif.render(outcome.before)
    fixes = {}
    for fingerprint, (description, edits) in outcome.fixes.items():
        fixes[fingerprint] = sarif.fix_object(safe_text(description),
                                              [(str(path), old, new) for path, (old, new) in edits.items()])
    return sarif.attach_fixes(log, fixes)
