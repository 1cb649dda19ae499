"""Pod Security: the smallest securityContext changes that make a workload pass the checks it fails.

Input is the rendered object and the Pod Security rules it fails (the scan decided the level of its namespace);
output is a list of `Change`s in rendered coordinates and the rules left to a person. Changes that alter what
the workload can do (privileged, host namespaces, hostPath, host ports, root, added capabilities, /proc, AppArmor)
are marked unsafe and only made with ``--unsafe``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from scanner.fix.changes import APPEND, DELETE, SET, Change
from scanner.model import FieldPath

CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
NON_ROOT_UID = 65532  # the conventional "nonroot" user of distroless images
BASELINE_CAPABILITIES = frozenset({"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                                   "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})
VALID_PROFILES = ("RuntimeDefault", "Localhost")  # seccomp and AppArmor
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
# rule id -> what fixes it; rules not listed here are reported as not fixable (sysctls, SELinux, volume types...)
FIXABLE = frozenset({
    "pss-allow-privilege-escalation", "pss-capabilities-restricted", "pss-capabilities-baseline",
    "pss-run-as-non-root", "pss-run-as-user", "pss-seccomp-profile-restricted", "pss-seccomp-profile-baseline",
    "pss-privileged", "pss-host-namespaces", "pss-host-path-volumes", "pss-restricted-volumes", "pss-host-ports",
    "pss-proc-mount", "pss-proc-mount-restricted", "pss-apparmor-profile",
})


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def containers(spec: dict[str, Any]) -> Iterator[tuple[FieldPath, dict[str, Any]]]:
    """(path below the pod spec, container) for every container, init and ephemeral container."""
    for key in CONTAINER_LISTS:
        items = spec.get(key)
        for i, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, dict):
                yield (key, i), item


def pod_security_changes(obj: dict[str, Any], spec_path: FieldPath, rules: set[str], *, unsafe: bool
                         ) -> tuple[list[Change], dict[str, str]]:
    """Changes for the failed ``rules`` of one workload, and {rule: why it is not (fully) fixed}."""
    spec: Any = obj
    for key in spec_path:
        spec = spec.get(key) if isinstance(spec, dict) else None
    if not isinstance(spec, dict):
        return [], {r: "no pod spec found" for r in rules}
    template: Any = obj
    for key in spec_path[:-1]:
        template = template.get(key) if isinstance(template, dict) else None
    fixer = _Fixer(spec, spec_path, unsafe, _map(_map(template).get("metadata")))
    for rule in sorted(rules):
        fixer.rule = rule
        if rule not in FIXABLE:
            fixer.left[rule] = "no automatic fix (needs a decision about the workload)"
            continue
        getattr(fixer, "fix_" + rule.removeprefix("pss-").replace("-", "_"))()
    return fixer.result()


class _Fixer:
    def __init__(self, spec: dict[str, Any], spec_path: FieldPath, unsafe: bool, metadata: dict[str, Any]) -> None:
        self.spec = spec
        self.metadata = metadata
        self.base = spec_path
        self.unsafe = unsafe
        self.changes: dict[tuple[FieldPath, str], Change] = {}
        self.left: dict[str, str] = {}
        self.rule = ""

    # -- helpers -------------------------------------------------------------------------------------------
    def put(self, path: FieldPath, op: str, value: Any = None, *, unsafe: bool = False) -> None:
        if unsafe and not self.unsafe:
            self.left.setdefault(self.rule, "the fix changes what the workload may do: rerun with --unsafe")
            return
        self.changes.setdefault(((*self.base, *path), op),
                                Change((*self.base, *path), op, value, self.rule, unsafe))

    def put_at(self, path: FieldPath, op: str, value: Any = None, *, unsafe: bool = False) -> None:
        """`put` for a path outside the pod spec (the pod template's annotations)."""
        base, self.base = self.base, ()
        try:
            self.put(path, op, value, unsafe=unsafe)
        finally:
            self.base = base

    def sc(self, container: dict[str, Any]) -> dict[str, Any]:
        return _map(container.get("securityContext"))

    @property
    def pod_sc(self) -> dict[str, Any]:
        return _map(self.spec.get("securityContext"))

    # -- one method per rule ---------------------------------------------------------------------------------
    def fix_allow_privilege_escalation(self) -> None:
        for path, container in containers(self.spec):
            sc = self.sc(container)
            if sc.get("allowPrivilegeEscalation") is False:
                continue
            caps = _map(sc.get("capabilities")).get("add") or []
            needs = sc.get("privileged") is True or "SYS_ADMIN" in caps or "CAP_SYS_ADMIN" in caps
            if needs and not self.unsafe:
                # the API server rejects allowPrivilegeEscalation: false beside privileged or CAP_SYS_ADMIN
                self.left[self.rule] = "privileged or CAP_SYS_ADMIN containers need those removed first (--unsafe)"
                continue
            self.put((*path, "securityContext", "allowPrivilegeEscalation"), SET, False)

    def fix_capabilities_restricted(self) -> None:
        for path, container in containers(self.spec):
            caps = _map(self.sc(container).get("capabilities"))
            drop = caps.get("drop") if isinstance(caps.get("drop"), list) else []
            if "ALL" not in drop:
                self.put((*path, "securityContext", "capabilities", "drop"), APPEND, "ALL")
            self._remove_added(path, caps, frozenset({"NET_BIND_SERVICE"}))

    def fix_capabilities_baseline(self) -> None:
        for path, container in containers(self.spec):
            self._remove_added(path, _map(self.sc(container).get("capabilities")), BASELINE_CAPABILITIES)

    def _remove_added(self, path: FieldPath, caps: dict[str, Any], allowed: frozenset[str]) -> None:
        added = caps.get("add") if isinstance(caps.get("add"), list) else []
        kept = [c for c in added if c in allowed]
        if kept != added:
            where = (*path, "securityContext", "capabilities", "add")
            self.put(where, SET, kept, unsafe=True) if kept else self.put(where, DELETE, unsafe=True)

    def fix_run_as_non_root(self) -> None:
        if self.spec.get("hostUsers") is False:
            return
        every = [c for _, c in containers(self.spec)]
        for path, container in containers(self.spec):
            if self.sc(container).get("runAsNonRoot") is False:
                self.put((*path, "securityContext", "runAsNonRoot"), SET, True)
        pod = self.pod_sc.get("runAsNonRoot")
        if pod is False or (pod is not True and not all(self.sc(c).get("runAsNonRoot") is True for c in every)):
            self.put(("securityContext", "runAsNonRoot"), SET, True)
        # runAsNonRoot with a root image stops the container from starting: give it a user when none is set
        if "runAsUser" not in self.pod_sc and any("runAsUser" not in self.sc(c) for c in every):
            self.put(("securityContext", "runAsUser"), SET, NON_ROOT_UID)

    def fix_run_as_user(self) -> None:
        if self.spec.get("hostUsers") is False:
            return
        if self.pod_sc.get("runAsUser") == 0:
            self.put(("securityContext", "runAsUser"), SET, NON_ROOT_UID, unsafe=True)
        for path, container in containers(self.spec):
            if self.sc(container).get("runAsUser") == 0:
                self.put((*path, "securityContext", "runAsUser"), SET, NON_ROOT_UID, unsafe=True)

    def fix_seccomp_profile_restricted(self) -> None:
        self.fix_seccomp_profile_baseline()  # any profile set becomes valid; unset ones are covered by the pod's
        every = [c for _, c in containers(self.spec)]
        covered = all(isinstance(self.sc(c).get("seccompProfile"), dict) for c in every)
        if not isinstance(self.pod_sc.get("seccompProfile"), dict) and not covered:
            self.put(("securityContext", "seccompProfile"), SET, {"type": "RuntimeDefault"})

    def fix_seccomp_profile_baseline(self) -> None:
        self._valid_profile(("securityContext",), self.pod_sc, "seccompProfile")
        for path, container in containers(self.spec):
            self._valid_profile((*path, "securityContext"), self.sc(container), "seccompProfile")

    def _valid_profile(self, where: FieldPath, sc: dict[str, Any], field: str, *, unsafe: bool = False) -> None:
        """A seccomp or AppArmor profile that is set but not RuntimeDefault/Localhost becomes RuntimeDefault."""
        profile = sc.get(field)
        if not isinstance(profile, dict) or profile.get("type") in VALID_PROFILES:
            return
        self.put((*where, field, "type"), SET, "RuntimeDefault", unsafe=unsafe)
        if "localhostProfile" in profile:  # the API server allows it only beside type Localhost
            self.put((*where, field, "localhostProfile"), DELETE, unsafe=unsafe)

    def fix_privileged(self) -> None:
        for path, container in containers(self.spec):
            if self.sc(container).get("privileged") is True:
                self.put((*path, "securityContext", "privileged"), SET, False, unsafe=True)

    def fix_host_namespaces(self) -> None:
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            if self.spec.get(key) is True:
                self.put((key,), SET, False, unsafe=True)

    def fix_host_path_volumes(self) -> None:
        volumes = self.spec.get("volumes")
        for i, volume in enumerate(volumes if isinstance(volumes, list) else []):
            if isinstance(volume, dict) and "hostPath" in volume:
                # an emptyDir keeps every volumeMount valid; what the pod read from the node is gone
                self.put(("volumes", i, "hostPath"), DELETE, unsafe=True)
                self.put(("volumes", i, "emptyDir"), SET, {}, unsafe=True)

    def fix_restricted_volumes(self) -> None:
        allowed = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image", "persistentVolumeClaim",
                   "projected", "secret", "name"}
        volumes = self.spec.get("volumes")
        other = [v for v in volumes if isinstance(v, dict) and set(v) - allowed - {"hostPath"}] \
            if isinstance(volumes, list) else []
        if other:
            self.left[self.rule] = "volume types outside the restricted set need a different storage choice"
        self.fix_host_path_volumes()

    def fix_host_ports(self) -> None:
        for path, container in containers(self.spec):
            ports = container.get("ports")
            for j, port in enumerate(ports if isinstance(ports, list) else []):
                if isinstance(port, dict) and port.get("hostPort"):
                    self.put((*path, "ports", j, "hostPort"), DELETE, unsafe=True)

    def fix_proc_mount(self) -> None:
        for path, container in containers(self.spec):
            if self.sc(container).get("procMount") not in (None, "Default"):
                self.put((*path, "securityContext", "procMount"), SET, "Default", unsafe=True)

    fix_proc_mount_restricted = fix_proc_mount

    def fix_apparmor_profile(self) -> None:
        self._valid_profile(("securityContext",), self.pod_sc, "appArmorProfile", unsafe=True)
        for path, container in containers(self.spec):
            self._valid_profile((*path, "securityContext"), self.sc(container), "appArmorProfile", unsafe=True)
        metadata = (*self.base[:-1], "metadata")
        annotations = _map(_map(self.metadata.get("annotations")))
        for key, value in annotations.items():
            if key.startswith(APPARMOR_ANNOTATION) and not _allowed_apparmor(value):
                self.put_at((*metadata, "annotations", key), SET, "runtime/default", unsafe=True)

    def result(self) -> tuple[list[Change], dict[str, str]]:
        return list(self.changes.values()), self.left


def _allowed_apparmor(value: Any) -> bool:
    return value in ("", "runtime/default") or (isinstance(value, str) and value.startswith("localhost/"))
