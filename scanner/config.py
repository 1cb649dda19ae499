"""`.kguard.yaml` at the repository root: which inputs to scan and repository-wide scan settings.

```yaml
overlays: [manifests/overlays/*]   # directories or globs, in order (default: discovered)
exclude: [tests]                   # globs skipped by discovery and the pre-commit hook
podTemplatePaths:                  # custom workload kinds, as --pod-template-path KIND=PATH
  - Workflow=spec.podTemplate
podSecurity:
  defaultLevel: restricted         # level of namespaces without a pod-security.kubernetes.io/enforce label
  exemptions:
    namespaces: [kube-system]      # like upstream's AdmissionConfiguration exemptions (listed as not evaluated)
suppressions:                      # what inline kguard.io/ignore annotations may do (these are the defaults)
  wildcardMaxSeverity: medium      # a rule pattern with * ? [ ] covers findings up to this severity
  inlineMaxSeverity: high          # critical findings need a baseline
  maxExpiryDays: 366               # expires= at most this far ahead
  minReasonLength: 10
helm:                              # Helm charts found by a repository scan (`kguard scan .`)
  enabled: true                    # render them with the `helm` on PATH (default false: listed as not scanned)
  kubeVersion: "1.31.0"            # helm template --kube-version
  releases:                        # how to render each chart (default: one release, the chart's values.yaml)
    - chart: deploy/chart          # chart directory, relative to this file
      name: shop                   # release name (default: the chart directory's name)
      namespace: shop-production   # release namespace
      values: [deploy/chart/values-production.yaml]
context: [manifests]               # `kguard scan FILE`: what is loaded as inventory only (default: the repository)
select: [pss-*, rbac]              # only these rules (ids, globs, kinds, categories); --select replaces the list
ignore: [seg-allow-all-egress]     # skip these rules; --ignore replaces the list
failOn: high                       # exit 1 from this severity on (--fail-on overrides it)
severityOverrides:                 # rule id -> severity its findings are reported with
  rbac-pod-exec: critical
```

Every entry point reads it (`scan`, `precommit-kustomize`, `audit`, `gatekeeper build`); command-line options
override it. It is validated against docs/json-schema/kguard-config-1.json (scanner/config_schema.py): unknown keys
and wrong types are errors (exit 2) that name the file and the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner.errors import UsageError
from scanner.load.files import display_path, repo_root
from scanner.model import Severity

CONFIG_FILE = ".kguard.yaml"
LIST_KEYS = ("overlays", "exclude", "podTemplatePaths")
RULE_KEYS = ("select", "ignore")
FAIL_ON = ("critical", "high", "medium", "low", "none")
_NAMESPACE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")  # a DNS-1123 label
SECTION_KEYS = {"podSecurity": ("defaultLevel", "exemptions"), "helm": ("enabled", "kubeVersion", "releases"),
                "suppressions": ("wildcardMaxSeverity", "inlineMaxSeverity", "maxExpiryDays", "minReasonLength")}
PSS_LEVELS = ("privileged", "baseline", "restricted")
EXEMPTION_KEYS = ("namespaces",)
RELEASE_KEYS = ("chart", "name", "namespace", "values")


@dataclass(frozen=True, slots=True, kw_only=True)
class PodSecurityConfig:
    """How Pod Security levels are decided: the level of unlabelled namespaces and the exempt namespaces."""

    default_level: str = "restricted"
    exempt_namespaces: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SuppressionPolicy:
    """What an inline `kguard.io/ignore` annotation (written by whoever writes the manifest) may do.

    The defaults are safe for pull requests: a rule pattern with wildcards covers only findings up to medium,
    critical findings are never suppressed inline (only by a baseline), an expiry is at most a year ahead and a
    reason says something.
    """

    wildcard_max_severity: Severity = Severity.MEDIUM
    inline_max_severity: Severity = Severity.HIGH
    max_expiry_days: int = 366
    min_reason_length: int = 10

    def as_dict(self) -> dict[str, Any]:
        return {"wildcardMaxSeverity": self.wildcard_max_severity.label,
                "inlineMaxSeverity": self.inline_max_severity.label,
                "maxExpiryDays": self.max_expiry_days, "minReasonLength": self.min_reason_length}


@dataclass(frozen=True, slots=True, kw_only=True)
class HelmRelease:
    """How one chart is rendered: paths relative to the repository root (where `.kguard.yaml` is)."""

    chart: str
    name: str | None = None
    namespace: str | None = None
    values: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"chart": self.chart, "name": self.name, "namespace": self.namespace, "values": list(self.values)}


@dataclass(frozen=True, slots=True, kw_only=True)
class HelmConfig:
    """Whether Helm charts are rendered (with the `helm` on PATH) and how."""

    enabled: bool = False
    kube_version: str | None = None
    releases: tuple[HelmRelease, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "kubeVersion": self.kube_version,
                "releases": [r.as_dict() for r in self.releases]}


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """The settings of one `.kguard.yaml` (all defaults when there is none); ``source`` is where they came from."""

    overlays: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    pod_template_paths: tuple[str, ...] = ()
    pod_security: PodSecurityConfig = field(default_factory=PodSecurityConfig)
    suppressions: SuppressionPolicy = field(default_factory=SuppressionPolicy)
    helm: HelmConfig = field(default_factory=HelmConfig)
    context: tuple[str, ...] | None = None  # inventory-only inputs of a file scan; None: the repository
    select: tuple[str, ...] = ()  # rule patterns, as --select (which replaces them)
    ignore: tuple[str, ...] = ()  # rule patterns, as --ignore (which replaces them)
    fail_on: str | None = None  # one of FAIL_ON; None: --fail-on's default (high)
    severity_overrides: tuple[tuple[str, Severity], ...] = ()  # (rule id, severity), sorted by rule id
    source: str | None = None  # display path of the file, None for built-in defaults

    def as_dict(self) -> dict[str, Any]:
        """The active configuration, as reports show it."""
        return {
            "source": self.source or "built-in defaults",
            "overlays": list(self.overlays) if self.overlays is not None else None,
            "exclude": list(self.exclude),
            "podTemplatePaths": list(self.pod_template_paths),
            "podSecurity": {"defaultLevel": self.pod_security.default_level,
                            "exemptions": {"namespaces": list(self.pod_security.exempt_namespaces)}},
            "suppressions": self.suppressions.as_dict(),
            "helm": self.helm.as_dict(),
            "context": list(self.context) if self.context is not None else None,
            "select": list(self.select),
            "ignore": list(self.ignore),
            "failOn": self.fail_on,
            "severityOverrides": {rule: severity.label for rule, severity in self.severity_overrides},
        }


def split_patterns(values: Any) -> tuple[str, ...]:
    """Rule patterns from repeated options or a list, each entry possibly a comma list (`pss-privileged,rbac`)."""
    return tuple(part.strip() for value in values or () for part in str(value).split(",") if part.strip())


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where} must be a list of strings")
    return tuple(value)


def _mapping(value: Any, where: str, known: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UsageError(f"{where} must be a mapping with {', '.join(known)}")
    unknown = sorted(str(k) for k in set(value) - set(known))
    if unknown:
        raise UsageError(f"{where}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(known)})")
    return value


def _pod_security(value: Any, shown: str) -> PodSecurityConfig:
    spec = _mapping(value, f"{shown}: `podSecurity`", SECTION_KEYS["podSecurity"])
    level = spec.get("defaultLevel", "restricted")
    if level not in PSS_LEVELS:
        raise UsageError(f"{shown}: `podSecurity.defaultLevel` must be one of {', '.join(PSS_LEVELS)}, not {level!r}")
    exemptions = _mapping(spec.get("exemptions") or {}, f"{shown}: `podSecurity.exemptions`", EXEMPTION_KEYS)
    namespaces = _strings(exemptions.get("namespaces") or [], f"{shown}: `podSecurity.exemptions.namespaces`")
    for name in namespaces:  # exact names, as upstream's exemptions: a Gatekeeper glob would exempt far more
        if not _NAMESPACE_NAME.fullmatch(name):
            raise UsageError(f"{shown}: `podSecurity.exemptions.namespaces`: {name!r} is not a namespace name "
                             "(exemptions name namespaces exactly; no wildcards)")
    return PodSecurityConfig(default_level=level, exempt_namespaces=tuple(sorted(set(namespaces))))


def _suppression_policy(value: Any, shown: str) -> SuppressionPolicy:
    spec = _mapping(value, f"{shown}: `suppressions`", SECTION_KEYS["suppressions"])
    defaults = SuppressionPolicy()
    out: dict[str, Any] = {}
    for key, attr in (("wildcardMaxSeverity", "wildcard_max_severity"), ("inlineMaxSeverity", "inline_max_severity")):
        if key in spec:
            try:
                out[attr] = Severity.parse(str(spec[key]))
            except ValueError as exc:
                raise UsageError(f"{shown}: `suppressions.{key}`: {exc}") from None
    for key, attr in (("maxExpiryDays", "max_expiry_days"), ("minReasonLength", "min_reason_length")):
        if key in spec:
            if not isinstance(spec[key], int) or isinstance(spec[key], bool) or not 0 <= spec[key] <= 36500:
                raise UsageError(f"{shown}: `suppressions.{key}` must be a whole number from 0 to 36500")
            out[attr] = spec[key]
    return SuppressionPolicy(**{**{f: getattr(defaults, f) for f in SuppressionPolicy.__slots__}, **out})


def _helm(value: Any, shown: str) -> HelmConfig:
    spec = _mapping(value, f"{shown}: `helm`", SECTION_KEYS["helm"])
    if not isinstance(spec.get("enabled", False), bool):
        raise UsageError(f"{shown}: `helm.enabled` must be true or false")
    kube_version = spec.get("kubeVersion")
    if kube_version is not None and not isinstance(kube_version, str):
        raise UsageError(f"{shown}: `helm.kubeVersion` must be a string such as \"1.31.0\"")
    if not isinstance(spec.get("releases") or [], list):
        raise UsageError(f"{shown}: `helm.releases` must be a list")
    releases = []
    for i, item in enumerate(spec.get("releases") or []):
        where = f"{shown}: `helm.releases[{i}]`"
        entry = _mapping(item, where, RELEASE_KEYS)
        if not isinstance(entry.get("chart"), str) or not entry["chart"]:
            raise UsageError(f"{where}.chart must be the chart directory")
        for key in ("name", "namespace"):
            if entry.get(key) is not None and not isinstance(entry[key], str):
                raise UsageError(f"{where}.{key} must be a string")
        releases.append(HelmRelease(chart=entry["chart"], name=entry.get("name"), namespace=entry.get("namespace"),
                                    values=_strings(entry.get("values") or [], f"{where}.values")))
    return HelmConfig(enabled=spec.get("enabled", False), kube_version=kube_version, releases=tuple(releases))


def parse_config(spec: Any, shown: str) -> Config:
    """A parsed `.kguard.yaml` document to `Config`; ``shown`` names the file in errors."""
    if spec is None:
        return Config(source=shown)
    known = (*LIST_KEYS, *SECTION_KEYS, "context", *RULE_KEYS, "failOn", "severityOverrides")
    spec = _mapping(spec, shown, known)
    lists = {key: _strings(spec[key], f"{shown}: `{key}`") for key in LIST_KEYS if spec.get(key) is not None}
    pod_security = _pod_security(spec["podSecurity"], shown) if spec.get("podSecurity") is not None \
        else PodSecurityConfig()
    suppressions = _suppression_policy(spec["suppressions"], shown) if spec.get("suppressions") is not None \
        else SuppressionPolicy()
    helm = _helm(spec["helm"], shown) if spec.get("helm") is not None else HelmConfig()
    context = _strings(spec["context"], f"{shown}: `context`") if spec.get("context") is not None else None
    rules = {key: split_patterns(_strings(spec[key], f"{shown}: `{key}`")) for key in RULE_KEYS
             if spec.get(key) is not None}
    fail_on = spec.get("failOn")
    if fail_on is not None and fail_on not in FAIL_ON:
        raise UsageError(f"{shown}: `failOn` must be one of {', '.join(FAIL_ON)}, not {fail_on!r}")
    return Config(overlays=lists.get("overlays"), exclude=lists.get("exclude", ()),
                  pod_template_paths=lists.get("podTemplatePaths", ()), pod_security=pod_security,
                  suppressions=suppressions, helm=helm, context=context, select=rules.get("select", ()),
                  ignore=rules.get("ignore", ()), fail_on=fail_on,
                  severity_overrides=_severity_overrides(spec.get("severityOverrides"), shown), source=shown)


def _severity_overrides(value: Any, shown: str) -> tuple[tuple[str, Severity], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise UsageError(f"{shown}: `severityOverrides` must be a mapping of rule id to severity")
    out = []
    for rule, level in value.items():
        try:
            out.append((str(rule), Severity.parse(str(level))))
        except ValueError as exc:
            raise UsageError(f"{shown}: `severityOverrides.{rule}`: {exc}") from None
    return tuple(sorted(out))


def read_config(root: Path) -> Config:
    """The settings of ``root/.kguard.yaml`` (missing file: built-in defaults)."""
    config = root / CONFIG_FILE
    if not config.is_file():
        return Config()
    shown = display_path(config)
    try:
        text = config.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{shown}: cannot read: {exc}") from None
    return parse_config_text(text, shown)


def parse_config_text(text: str, shown: str) -> Config:
    """`.kguard.yaml` text to `Config`: read with the line of every field, checked against the published JSON
    Schema (errors `shown:LINE: ...`), then typed."""
    import yaml

    from scanner.config_schema import load_with_lines, validate_text

    try:
        documents = load_with_lines(text)
    except yaml.MarkedYAMLError as exc:
        line = f":{exc.problem_mark.line + 1}" if exc.problem_mark else ""
        raise UsageError(f"{shown}{line}: cannot read: invalid YAML: {exc.problem or exc}") from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise UsageError(f"{shown}: cannot read: {exc}") from None
    if len(documents) > 1:
        raise UsageError(f"{shown}:{documents[1][1].get((), 0)}: one YAML document expected, not {len(documents)}")
    if not documents:
        return Config(source=shown)
    value, lines = documents[0]
    validate_text(text, value, lines, shown)
    return parse_config(value, shown)


def repository_config() -> Config:
    """`.kguard.yaml` of the repository the current directory is in (or of the current directory)."""
    return read_config(repo_root(str(Path.cwd())) or Path.cwd())
