"""`kguard`: a thin typer layer over `scanner.scan`, `scanner.report` and friends. No logic lives here."""

import copy
import enum
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from typer._click.types import FloatParamType, IntParamType
from typer.core import TyperArgument, TyperGroup, TyperOption
from typer.main import get_command_name
from typer.models import TyperPath

from scanner.errors import KguardError, UsageError
from scanner.model import ScanResult, Severity

# Value names in --help (instead of typer's type placeholders such as <list[str]>); others follow the value's type.
_METAVARS = {
    "select": "RULE", "ignore": "RULE", "templates": "PATH", "pod_template_path": "KIND=PATH",
    "default_namespace": "NAMESPACE", "namespace": "NAMESPACE", "exclude_namespace": "GLOB", "opa_url": "URL",
    "context": "NAME", "cluster_name": "NAME", "kubeconfig": "FILE", "manifests": "PATH", "run": "REGEX",
    "kustomize": "DIR",
}


def _metavar(param: TyperOption) -> str | None:
    """A plain value name for ``param``'s help (`[a|b]` for choices, `DIR`, `PATH`, `N`, `SECONDS`, ...)."""
    if param.is_flag or param.count:
        return None
    name = param.name or ""
    kind = param.type
    choices = getattr(kind, "choices", None)
    if choices is not None:
        return "[" + "|".join(str(choice) for choice in choices) + "]"
    if isinstance(kind, TyperPath):
        return "DIR" if name.endswith("dir") or name == "kustomize" else "PATH"
    if name in _METAVARS:
        return _METAVARS[name]
    if isinstance(kind, IntParamType):
        return "N"
    if isinstance(kind, FloatParamType):
        return "SECONDS" if "timeout" in name else "NUMBER"
    return "TEXT"


class _NamedArgument(TyperArgument):
    """An argument shown in help by its name alone (`PATHS`; `PATHS...` in the usage line, `[PATHS]...` when
    optional), without a type placeholder."""

    def make_metavar(self, ctx: Any, *, usage: bool = False) -> str:
        name = self.metavar or (self.name or "arg").upper()
        if not usage:
            return name
        name = name if self.required else f"[{name}]"
        return f"{name}..." if self.nargs != 1 else name


def _clean_help(command: Any) -> None:
    """Give every option of ``command`` (and its subcommands) a plain value name; arguments show none."""
    for param in command.params:
        if isinstance(param, TyperArgument):
            param.__class__ = _NamedArgument
            param.metavar = param.metavar or (param.name or "arg").upper()
        elif isinstance(param, TyperOption):
            param.metavar = _metavar(param)
    for sub in getattr(command, "commands", {}).values():
        _clean_help(sub)


class KguardGroup(TyperGroup):
    """The `kguard` command group: help without type placeholders, and a usage error as one line on stderr
    (`kguard: error: ...`, exit 2) instead of click's multi-line box."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _clean_help(self)

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as exc:  # click's exceptions (vendored by typer)
            if type(exc).__name__ == "NoArgsIsHelpError":
                exc.show()  # the help text itself
                sys.exit(2)
            from scanner.report.safe import safe_text

            ctx = getattr(exc, "ctx", None)
            usage = getattr(exc, "exit_code", 1) == 2  # UsageError and its subclasses
            hint = f" (see '{ctx.command_path} --help')" if usage and ctx is not None else ""
            typer.echo(f"kguard: error: {safe_text(exc.format_message())}{hint}", err=True)
            sys.exit(2)
        except typer.Abort:
            typer.echo("kguard: aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    name="kguard",
    cls=KguardGroup,
    help="Policy-as-code compliance scanner for Kubernetes (Gatekeeper-compatible Rego).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: readable at 80 columns, no boxes
)
gatekeeper_app = typer.Typer(help="Gatekeeper mirror of the policy library.", no_args_is_help=True)
app.add_typer(gatekeeper_app, name="gatekeeper")


class Format(enum.StrEnum):
    rich = "rich"
    sarif = "sarif"
    json = "json"
    markdown = "markdown"
    html = "html"


GRAPH_FORMATS = (Format.html, Format.markdown)  # formats that show the analyses' graphs (ScanOptions.graphs)


class Layout(enum.StrEnum):
    auto = "auto"
    full = "full"
    compact = "compact"


class FailOn(enum.StrEnum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    none = "none"

    def threshold(self) -> Severity | None:
        return None if self is FailOn.none else Severity.parse(self.value)


class PssLevel(enum.StrEnum):
    privileged = "privileged"
    baseline = "baseline"
    restricted = "restricted"


class Engine(enum.StrEnum):
    regorus = "regorus"
    opa = "opa"


def _show_version(value: bool) -> None:
    if value:
        import scanner

        typer.echo(f"kguard {scanner.__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """Policy-as-code compliance scanner for Kubernetes (Gatekeeper-compatible Rego)."""


def fail(message: str) -> None:
    """One line on stderr (control characters escaped: messages quote file and object names), exit 2."""
    from scanner.report.safe import safe_text

    typer.echo(f"kguard: error: {safe_text(message)}", err=True)
    raise typer.Exit(2)


@contextmanager
def _errors_to_exit() -> Iterator[None]:
    try:
        yield
    except KguardError as exc:
        fail(str(exc))


@contextmanager
def _progress(enabled: bool) -> Iterator[tuple[Callable[[int], None] | None, Callable[[int], None] | None]]:
    """A progress bar on stderr for long runs (TTY only); yields (on_total, on_progress)."""
    if not enabled or not sys.stderr.isatty():
        yield None, None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True, auto_refresh=False) as progress:
        task = progress.add_task("evaluating", total=None)

        def on_total(total: int) -> None:
            progress.update(task, total=total)
            progress.refresh()

        def on_progress(done: int) -> None:
            progress.advance(task, done)
            progress.refresh()

        yield on_total, on_progress


def _report_problems(results: list[ScanResult], quiet: bool, fmt: Format | None = None) -> None:
    """Input and policy errors and objects not evaluated always reach stderr, one line each, whatever the output
    format; skipped inputs too when the report itself cannot list them (``--quiet`` linter lines).

    Every line is escaped with `safe_text`: paths, names and messages come from the scanned files.
    """
    from scanner.report._common import terminal_path
    from scanner.report.safe import safe_text

    def where(path: str, line: int | None) -> str:  # relative to the current directory, as linters print paths
        return f"{terminal_path(path)}:{line}" if line else terminal_path(path)

    for result in results:
        for error in result.input_errors:
            typer.echo(f"kguard: error: {safe_text(where(error.path, error.line))}: {safe_text(error.message)}",
                       err=True)
        for perr in result.policy_errors:
            typer.echo(f"kguard: error: policy {safe_text(perr.policy)}: {safe_text(perr.message)}", err=True)
        for item in result.not_evaluated:
            typer.echo(f"kguard: not evaluated: {safe_text(where(item.path, item.line))}: {safe_text(item.reason)}",
                       err=True)
        if quiet and fmt is Format.rich:
            for item in result.skipped:
                typer.echo(f"kguard: skipped: {safe_text(where(item.path, item.line))}: {safe_text(item.reason)}",
                           err=True)


def _emit(results: list[ScanResult], fmt: Format, output: Path | None, quiet: bool, fail_on: FailOn,
          layout: Layout = Layout.auto, show_suppressed: bool = False) -> None:
    from scanner import report

    if fmt is Format.rich and quiet:
        from scanner.report import compact

        text = compact.render(results, threshold=fail_on.threshold())
    elif fmt is Format.rich and output is None:
        import os

        from rich.console import Console

        from scanner.report import rich_report

        console = Console()
        chosen = rich_report.choose_layout(console.is_terminal, console.width, os.environ) \
            if layout is Layout.auto else layout.value
        view = rich_report.View.terminal(chosen, fail_on.threshold(), show_suppressed)
        rich_report.print_guarded(results, console, view)
        return
    elif output is None:
        text = report.render(fmt.value, results, threshold=fail_on.threshold())
    else:
        text = report.produce(fmt.value, results, threshold=fail_on.threshold())  # the large formats piece by piece
    if output is None:
        sys.stdout.write(text)
        return
    from scanner.safe_files import write_file

    write_file(output, text)  # temporary file + rename; never through a symlink (UsageError says why)


def write_reports(results: list[ScanResult], *, fmt: Format, output: Path | None, fail_on: FailOn, quiet: bool,
                  report_dir: Path | None = None, layout: Layout = Layout.auto, show_suppressed: bool = False) -> None:
    """Problems on stderr, the report on stdout (or in ``output``), every format in ``report_dir``."""
    from scanner import report

    _report_problems(results, quiet, fmt)
    _emit(results, fmt, output, quiet, fail_on, layout, show_suppressed)
    if report_dir is not None:
        try:
            report.write_report_dir(results, report_dir, threshold=fail_on.threshold())
        except OSError as exc:
            raise UsageError(f"{report_dir}: cannot write reports: {exc.strerror or exc}") from None


def finish(results: list[ScanResult], *, fmt: Format, output: Path | None, fail_on: FailOn, quiet: bool,
           report_dir: Path | None = None, layout: Layout = Layout.auto, show_suppressed: bool = False) -> None:
    """Write the report(s) and exit with the contract's code (0 clean, 1 findings, 2 errors)."""
    write_reports(results, fmt=fmt, output=output, fail_on=fail_on, quiet=quiet, report_dir=report_dir,
                  layout=layout, show_suppressed=show_suppressed)
    raise typer.Exit(max(r.exit_code(fail_on.threshold()) for r in results))


PathsArg = Annotated[
    list[str] | None, typer.Argument(help="Files, directories (walked for .yaml/.yml/.json), or - for stdin.")
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
LayoutOpt = Annotated[Layout, typer.Option(
    help="Terminal report: full, or compact (fewer details; the default under pre-commit, when stdout is not a "
    "terminal or is narrower than 100 columns).")]
ShowSuppressedOpt = Annotated[bool, typer.Option("--show-suppressed", help="List suppressed findings too.")]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Write the report here (default: stdout).")]
FailOnOpt = Annotated[FailOn | None, typer.Option(
    help="Exit 1 when an unsuppressed finding is at least this severe (default: .kguard.yaml failOn, else high).")]
SelectOpt = Annotated[list[str] | None, typer.Option(
    help="Only these rules (id, glob, kind or category; repeatable or comma-separated; replaces .kguard.yaml "
         "select).")]
IgnoreOpt = Annotated[list[str] | None, typer.Option(
    help="Skip these rules (id, glob, kind or category; repeatable or comma-separated; replaces .kguard.yaml "
         "ignore).")]


def configured_fail_on(given: FailOn | None, config: Any) -> FailOn:
    """--fail-on, else `.kguard.yaml` failOn, else high."""
    return given if given is not None else FailOn(config.fail_on or FailOn.high.value)
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only failing findings; no summary or progress.")]
ContextOpt = Annotated[list[Path] | None, typer.Option(
    help="Load this directory or file as inventory only (other objects the rules look at, never reported on); "
    "default for named files: .kguard.yaml `context:`, else their repository.")]
PolicyDirOpt = Annotated[
    Path | None, typer.Option(help="Policy library (default: the one kguard ships, never a scanned policies/ folder).")
]


@app.command()
def scan(
    paths: PathsArg = None,
    fmt: FormatOpt = Format.rich,
    output: OutputOpt = None,
    fail_on: FailOnOpt = None,
    policy_dir: PolicyDirOpt = None,
    pss_level: Annotated[
        PssLevel | None, typer.Option(help="Pod Security level for namespaces without an enforce label "
                                      "(default: .kguard.yaml podSecurity.defaultLevel, else restricted).")
    ] = None,
    select: SelectOpt = None,
    ignore: IgnoreOpt = None,
    templates: Annotated[
        list[str] | None, typer.Option(help="Extra Gatekeeper ConstraintTemplates + Constraints.")
    ] = None,
    no_default_policies: Annotated[
        bool, typer.Option("--no-default-policies", help="Evaluate only --templates.")
    ] = False,
    no_analyses: Annotated[
        bool, typer.Option("--no-analyses", help="Skip the whole-graph analyses (reachability, RBAC escalation).")
    ] = False,
    kustomize: Annotated[list[Path] | None, typer.Option(help="Render this Kustomize directory and scan it.")] = None,
    default_namespace: Annotated[str, typer.Option(help="Namespace for namespaced objects without one.")] = "default",
    pod_template_path: Annotated[
        list[str] | None,
        typer.Option(help="KIND=PATH of a custom workload's pod template (e.g. Workflow=spec.podTemplate)."),
    ] = None,
    engine: Annotated[Engine, typer.Option(help="Rego engine.")] = Engine.regorus,
    opa_url: Annotated[str | None, typer.Option(help="OPA server for --engine opa (default: start `opa`).")] = None,
    policy_timeout: Annotated[float, typer.Option(help="Seconds one evaluation batch may take.")] = 10.0,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: by amount of work).")] = None,
    report_dir: Annotated[Path | None, typer.Option(help="Also write every format into this directory.")] = None,
    all_overlays: Annotated[bool, typer.Option(
        "--all-overlays", help="Directory PATHs (default .) are roots: scan every Kustomize overlay found there "
        "(.kguard.yaml `overlays:` or every kustomization no other one references).")] = False,
    repo: Annotated[bool, typer.Option(
        "--repo", help="Scan the whole repository (as `kguard scan .` at its root): overlays rendered, files no "
        "kustomization reads, Helm charts, the rest listed as not scanned.")] = False,
    context: ContextOpt = None,
    no_overlays: Annotated[bool, typer.Option(
        "--no-overlays", help="List the overlays found as not scanned instead of rendering them (CI scans each "
        "overlay in a job of its own).")] = False,
    baseline: Annotated[Path | None, typer.Option(help="Suppress findings recorded by --write-baseline.")] = None,
    write_baseline: Annotated[Path | None, typer.Option(help="Record the current findings as the baseline.")] = None,
    quiet: QuietOpt = False,
    layout: LayoutOpt = Layout.auto,
    show_suppressed: ShowSuppressedOpt = False,
) -> None:
    """Scan manifests (files, directories, stdin, Kustomize overlays) against the policies."""
    from scanner.config import repository_config
    from scanner.scan import ScanOptions

    if not paths and not kustomize and not all_overlays and not repo:
        fail("nothing to scan: give PATH ... (`kguard scan .` scans the repository), --repo or --kustomize DIR")
    if baseline is not None and write_baseline is not None:
        fail("--baseline and --write-baseline cannot be combined: --write-baseline records the current findings "
             "(and suppresses them in this run); give one of them")
    with _errors_to_exit(), _progress(not quiet) as (on_total, on_progress):
        config = repository_config()
        options = ScanOptions(
            policy_dir=policy_dir, template_dirs=templates or (), default_policies=not no_default_policies,
            analyses=not no_analyses, config=config, graphs=fmt in GRAPH_FORMATS or report_dir is not None,
            pss_level=pss_level.value if pss_level else None, select=select or (), ignore=ignore or (),
            default_namespace=default_namespace, engine=engine.value, opa_url=opa_url, workers=workers,
            timeout=policy_timeout, pod_template_paths=pod_template_path or (),
            on_total=on_total, on_progress=on_progress,
        )
        from scanner.plan import plan_paths, scan_plan, settings_root, without_overlays

        plan = plan_paths([*(paths or ()), *([str(settings_root())] if repo else [])], config.helm,
                          kustomize=[str(k) for k in kustomize or ()], all_overlays=all_overlays)
        plan = without_overlays(plan) if no_overlays else plan
        results = scan_plan(plan, options, context=[str(c) for c in context or ()])
        import os

        from scanner.scan import require_input

        if os.environ.get("PRE_COMMIT") != "1":  # the hook passes every staged YAML file: no manifest is no error
            require_input(results, [*(paths or ()), *(str(k) for k in kustomize or ())])
        if baseline is not None or write_baseline is not None:
            from scanner import suppress

            if write_baseline is not None:
                recorded = suppress.write_baseline(results, write_baseline)
                from scanner.report.safe import safe_text

                shown = safe_text(write_baseline)
                typer.echo(f"kguard: baseline written: {shown} ({recorded} finding(s) recorded; "
                           f"--baseline {shown} suppresses them)", err=True)
            known_file = write_baseline if write_baseline is not None else baseline
            assert known_file is not None
            suppress.apply_baseline(results, suppress.load_baseline(known_file), known_file.as_posix())
    with _errors_to_exit():
        finish(results, fmt=fmt, output=output, fail_on=configured_fail_on(fail_on, config), quiet=quiet,
               report_dir=report_dir, layout=layout,
               show_suppressed=show_suppressed)


@app.command("precommit-kustomize")
def precommit_kustomize(
    files: Annotated[list[str] | None, typer.Argument(help="Changed files (pre-commit passes staged ones).")] = None,
    fail_on: FailOnOpt = None,
    policy_dir: PolicyDirOpt = None,
    templates: Annotated[list[str] | None, typer.Option(help="Extra ConstraintTemplates + Constraints.")] = None,
    no_default_policies: Annotated[bool, typer.Option("--no-default-policies", help="Only --templates.")] = False,
    select: SelectOpt = None,
    ignore: IgnoreOpt = None,
    pss_level: Annotated[PssLevel | None, typer.Option(
        help="PSS level for unlabelled namespaces (default: .kguard.yaml, else restricted).")] = None,
    baseline: Annotated[Path | None, typer.Option(help="Suppress findings recorded by --write-baseline.")] = None,
    quiet: QuietOpt = False,
) -> None:
    """pre-commit hook: scan only the Kustomize overlays whose render reads one of FILES, and the Helm charts
    FILES belong to."""
    from scanner.config import repository_config
    from scanner.plan import plan_precommit, scan_plan
    from scanner.scan import ScanOptions

    with _errors_to_exit():
        config = repository_config()
        plan = plan_precommit(files or [], config.helm)
        if not plan.overlays and not plan.releases and not plan.not_scanned:
            raise typer.Exit(0)
        options = ScanOptions(policy_dir=policy_dir, template_dirs=templates or (),
                              default_policies=not no_default_policies, config=config, select=select or (),
                              ignore=ignore or (), pss_level=pss_level.value if pss_level else None)
        results = scan_plan(plan, options, deferred_blame=True)
        if baseline is not None:
            from scanner import suppress

            suppress.apply_baseline(results, suppress.load_baseline(baseline), baseline.as_posix())
        finish(results, fmt=Format.rich, output=None, fail_on=configured_fail_on(fail_on, config), quiet=quiet)


@app.command()
def fix(
    paths: Annotated[list[str] | None, typer.Argument(
        help="Files or directories to fix in place (with --all-overlays: roots to find overlays under).")] = None,
    kustomize: Annotated[list[Path] | None, typer.Option(help="Fix this Kustomize overlay.")] = None,
    all_overlays: Annotated[bool, typer.Option(
        "--all-overlays", help="Fix every overlay found under the PATHs (default .), one after the other.")] = False,
    select: SelectOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would change.")] = False,
    diff: Annotated[bool, typer.Option("--diff", help="Print a unified diff instead of writing.")] = False,
    unsafe: Annotated[bool, typer.Option(
        "--unsafe", help="Also make fixes that change what a workload may do (privileged, host namespaces, "
        "hostPath, host ports, root, added capabilities).")] = False,
    in_base: Annotated[bool, typer.Option(
        "--in-base", help="Edit a base shared by several overlays instead of patching the overlay.")] = False,
    sarif: Annotated[Path | None, typer.Option(help="Write the findings with their fixes as SARIF here.")] = None,
    pss_level: Annotated[PssLevel | None, typer.Option(
        help="Pod Security level for namespaces without an enforce label.")] = None,
    policy_dir: PolicyDirOpt = None,
) -> None:
    """Write the smallest change that fixes Pod Security, RBAC automount and default-deny findings (docs/fix.md)."""
    from scanner.config import repository_config
    from scanner.fix import output, run
    from scanner.scan import ScanOptions

    if dry_run and diff:
        fail("--dry-run and --diff cannot be combined: --diff already writes nothing")
    with _errors_to_exit():
        options = run.fix_options(ScanOptions(policy_dir=policy_dir, config=repository_config(), select=select or (),
                                              pss_level=pss_level.value if pss_level else None))
        targets, notes = run.targets_for(list(paths or ()), options, kustomize=[str(k) for k in kustomize or ()],
                                         all_overlays=all_overlays)
        from scanner.report.safe import safe_text

        for note in notes:  # they name files of the checkout
            typer.echo(f"kguard: not fixed: {safe_text(note)}", err=True)
        outcome = run.fix(targets, options, unsafe=unsafe, in_base=in_base, write=not (dry_run or diff),
                          per_finding=sarif is not None)
        if sarif is not None:
            from scanner.safe_files import write_file

            write_file(sarif, output.sarif_with_fixes(outcome))  # never through a symlink (UsageError says why)
    typer.echo(run.unified_diff(outcome.edits) if diff else output.summary(outcome, written=not (dry_run or diff)),
               nl=False)
    raise typer.Exit(output.exit_code(outcome))


@app.command()
def audit(
    kubeconfig: Annotated[str | None, typer.Option(help="Kubeconfig (default: $KUBECONFIG, ~/.kube/config).")] = None,
    context: Annotated[str | None, typer.Option(help="Kubeconfig context (default: the current one).")] = None,
    in_cluster: Annotated[bool, typer.Option("--in-cluster", help="Use the pod's service account.")] = False,
    cluster_name: Annotated[str | None, typer.Option(help="Name for paths and SARIF category.")] = None,
    namespace: Annotated[list[str] | None, typer.Option(help="Only these namespaces (repeatable).")] = None,
    exclude_namespace: Annotated[list[str] | None, typer.Option(help="Skip these namespaces (globs).")] = None,
    fmt: FormatOpt = Format.rich,
    output: OutputOpt = None,
    fail_on: FailOnOpt = None,
    manifests: Annotated[list[str] | None, typer.Option(help="Git manifests: map findings, report drift.")] = None,
    kustomize: Annotated[list[Path] | None, typer.Option(help="Git Kustomize overlay: map findings, drift.")] = None,
    drift: Annotated[bool, typer.Option(help="Report drift against --manifests/--kustomize.")] = True,
    require_full_coverage: Annotated[bool, typer.Option(help="Exit 2 when anything could not be read.")] = False,
    policy_dir: PolicyDirOpt = None,
    templates: Annotated[list[str] | None, typer.Option(help="Extra ConstraintTemplates + Constraints.")] = None,
    no_default_policies: Annotated[bool, typer.Option("--no-default-policies", help="Only --templates.")] = False,
    select: SelectOpt = None,
    ignore: IgnoreOpt = None,
    pss_level: Annotated[PssLevel | None, typer.Option(
        help="PSS level for unlabelled namespaces (default: .kguard.yaml, else restricted).")] = None,
    page_size: Annotated[int, typer.Option(min=1, help="Objects per LIST page.")] = 500,
    concurrency: Annotated[int, typer.Option(min=1, help="Parallel API requests.")] = 8,
    request_timeout: Annotated[float, typer.Option(help="Seconds per API request.")] = 30.0,
    quiet: QuietOpt = False,
    report_dir: Annotated[Path | None, typer.Option(help="Also write every format into this directory.")] = None,
    compare: Annotated[Path | None, typer.Option(
        help="An earlier audit's JSON report or SARIF log: lead with what is new, updated or gone since (stderr); "
             "--report-dir also gets kguard-compare.sarif (baselineState) and kguard-compare.md.")] = None,
) -> None:
    """Audit a live cluster (read-only) with the same policies; optionally map to and diff against Git."""
    from scanner.cluster.audit import AuditOptions, run_audit
    from scanner.cluster.console import listing_progress, print_summary
    from scanner.cluster.read import ReadOptions
    from scanner.scan import ScanOptions

    with _errors_to_exit(), listing_progress(not quiet) as on_listed:
        from scanner.config import repository_config

        config = repository_config()
        fail_on = configured_fail_on(fail_on, config)
        scan_options = ScanOptions(policy_dir=policy_dir, template_dirs=templates or (),
                                   default_policies=not no_default_policies, config=config,
                                   pss_level=pss_level.value if pss_level else None,
                                   select=select or (), ignore=ignore or (),
                                   graphs=fmt in GRAPH_FORMATS or report_dir is not None)
        read = ReadOptions(namespaces=namespace or (), exclude_namespaces=exclude_namespace or (),
                           page_size=page_size, concurrency=concurrency)
        options = AuditOptions(kubeconfig=kubeconfig, context=context, in_cluster=in_cluster, read=read,
                               cluster_name=cluster_name,
                               request_timeout=request_timeout, manifests=manifests or (),
                               kustomize=[str(k) for k in kustomize or ()], drift=drift)
        result = run_audit(options, scan_options, on_listed)
    print_summary(result, quiet)
    if require_full_coverage and result.result.coverage:
        with _errors_to_exit():  # the nightly job still gets its report, summary and artifact
            write_reports([result.result], fmt=fmt, output=output, fail_on=fail_on, quiet=quiet,
                          report_dir=report_dir)
        fail(f"coverage incomplete: {len(result.result.coverage)} kind/namespace(s) could not be read "
             "(--require-full-coverage)")
    if compare is not None:
        from scanner.diff.previous import write_compared

        with _errors_to_exit():
            for line in write_compared(result.result, compare, report_dir, fail_on.threshold()):
                typer.echo(line, err=True)
    with _errors_to_exit():
        finish([result.result], fmt=fmt, output=output, fail_on=fail_on, quiet=quiet, report_dir=report_dir)


@app.command()
def diff(
    base: Annotated[str, typer.Argument(help="The git revision to compare against (e.g. origin/main).")],
    head: Annotated[str | None, typer.Argument(help="The revision to judge (default: the working tree).")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="rich, json, sarif, markdown or html.")] = "rich",
    output: OutputOpt = None,
    fail_on_new: Annotated[FailOn, typer.Option(
        help="Exit 1 when the change introduces a finding, escalation path or cross-environment path at least "
             "this severe; existing findings never fail.")] = FailOn.high,
    policy_dir: PolicyDirOpt = None,
    pss_level: Annotated[PssLevel | None, typer.Option(
        help="PSS level for unlabelled namespaces (default: each revision's .kguard.yaml, else restricted).")] = None,
    select: SelectOpt = None,
    ignore: IgnoreOpt = None,
    report_dir: Annotated[Path | None, typer.Option(
        help="Also write kguard-diff.json, .sarif, .md, .txt and .html into this directory.")] = None,
) -> None:
    """What a change does to security: scan the repository at BASE and HEAD and report new, fixed and unchanged
    findings, network paths opened or closed, permissions gained or lost and Pod Security changes."""
    from scanner.diff.command import diff_command

    with _errors_to_exit():
        code = diff_command(base, head, fmt=fmt, output=output, report_dir=report_dir,
                            threshold=fail_on_new.threshold(), select=select or (), ignore=ignore or (),
                            options={"policy_dir": policy_dir,
                                     "pss_level": pss_level.value if pss_level else None})
    raise typer.Exit(code)


@app.command()
def rules(
    fmt: Annotated[str, typer.Option("--format", "-f", help="rich or json.")] = "rich",
    policy_dir: PolicyDirOpt = None,
) -> None:
    """List the rules: id, category, severity, title."""
    from scanner.analysis import analysis_rules
    from scanner.engine.catalogue import default_policy_dir, load_catalogue

    with _errors_to_exit():
        catalogue = sorted([*(p.rule for p in load_catalogue(policy_dir or default_policy_dir())), *analysis_rules()],
                           key=lambda r: r.id)
    if fmt == "json":
        import json

        typer.echo(json.dumps([r.as_dict() for r in catalogue], indent=2))
        return
    if fmt != "rich":
        fail(f"--format must be rich or json, not {fmt!r}")
    from rich.console import Console

    from scanner.report.rules_list import print_rules

    print_rules(catalogue, Console())


@app.command()
def verify(
    paths: Annotated[list[str], typer.Argument(help="Suite files or directories; DIR/... walks DIR recursively.")],
    run: Annotated[str | None, typer.Option("--run", "-r", help="Regex on test names; TEST//CASE on both.")] = None,
    engine: Annotated[Engine, typer.Option(help="Rego engine.")] = Engine.regorus,
    opa_url: Annotated[str | None, typer.Option(help="OPA server for --engine opa (default: start `opa`).")] = None,
    policy_timeout: Annotated[float, typer.Option(help="Seconds one evaluation batch may take.")] = 10.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only failures and summary lines.")] = False,
) -> None:
    """Run Gatekeeper test suites (kind: Suite) with `gator verify` semantics; exit 1 on any failure."""
    from scanner import verify as suites

    with _errors_to_exit():
        results = suites.verify(paths, run_filter=run, engine=engine.value, opa_url=opa_url, timeout=policy_timeout)
    from scanner.report.safe import safe_text

    for line in suites.render(results, verbose=not quiet):  # go-test style: tabs are the format's own
        typer.echo("\t".join(safe_text(part) for part in line.split("\t")))
    raise typer.Exit(suites.exit_code(results))


@gatekeeper_app.command("build")
def gatekeeper_build(
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("gatekeeper"),
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 if OUT differs from what policies/ generates.")
    ] = False,
    policy_dir: PolicyDirOpt = None,
) -> None:
    """Generate ConstraintTemplates, Constraints, the sync Config and a kustomization from the policy library."""
    from scanner import mirror
    from scanner.config import repository_config
    from scanner.engine.catalogue import default_policy_dir

    source = policy_dir or default_policy_dir()
    with _errors_to_exit():
        config = repository_config()  # podSecurity, select/ignore and severityOverrides shape the mirror
        if check:
            stale = mirror.check(source, out, config=config)
            for path in stale:
                typer.echo(f"kguard: {out / path} is out of date (run `kguard gatekeeper build`)", err=True)
            raise typer.Exit(1 if stale else 0)
        changed = mirror.write(source, out, config=config)
    typer.echo(f"{len(changed)} file(s) updated in {out}")


def for_invocation(args: Sequence[str]) -> typer.Typer:
    """``app`` with only the command that ``args`` name, so that only that command is built: typer inspects the
    signature of every command it builds, about 15 ms for all of them on each run of the pre-commit hook.

    The command is the first argument that is no option (the root takes flags only). ``app`` itself when none is
    named (the help lists them all) or the name is none of them (click says so, with suggestions).
    """
    name = next((arg for arg in args if not arg.startswith("-")), None)
    commands = [c for c in app.registered_commands
                if (c.name or get_command_name(getattr(c.callback, "__name__", ""))) == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if not commands and not groups:
        return app
    lean = copy.copy(app)
    lean.registered_commands, lean.registered_groups = commands, groups
    return lean


def main() -> Any:
    """Console-script entry point: an unexpected failure is one line (KGUARD_DEBUG=1 shows the traceback).

    The cycle collector is off for the run: what kguard builds are trees (objects, reviews, findings, reports),
    freed by reference counting, and the collector would only walk them again and again (50,000 objects: 1.2 s
    of 25, peak memory the same; docs/performance.md).
    """
    import gc
    import os

    collecting = gc.isenabled()
    gc.disable()
    try:
        return for_invocation(sys.argv[1:])()
    except Exception as exc:
        if os.environ.get("KGUARD_DEBUG"):
            raise
        from scanner.report.safe import safe_text

        typer.echo(f"kguard: internal error: {type(exc).__name__}: {safe_text(exc)} "
                   "(set KGUARD_DEBUG=1 for a traceback)", err=True)
        raise SystemExit(2) from None
    finally:
        if collecting:
            gc.enable()
