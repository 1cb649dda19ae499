"""A thin, thread-safe JSON GET client over the official `kubernetes` client's transport.

Connection settings (kubeconfig, context, in-cluster service account) come from `kubernetes.config`; requests go
through `ApiClient.call_api` unparsed (no model deserialisation), with a timeout and retries with exponential
backoff on 429 and 5xx.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from scanner.errors import UsageError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
IN_CLUSTER_CONTEXT = "in-cluster"


class ApiError(Exception):
    """A request the API server answered with an error status (or that never got an answer: status 0)."""

    def __init__(self, status: int, message: str, path: str = "") -> None:
        super().__init__(f"{status} {message}" if status else message)
        self.status = status
        self.message = message
        self.path = path


def backoff_delay(attempt: int, base: float, retry_after: str | None = None, cap: float = 30.0) -> float:
    """Seconds to wait before retry ``attempt`` (1-based): Retry-After when given, else jittered exponential."""
    if retry_after:
        try:
            return min(cap, max(0.0, float(retry_after)))
        except ValueError:
            pass
    return min(cap, base * (2 ** (attempt - 1))) * (0.5 + random.random() / 2)


def error_message(status: int, body: bytes) -> str:
    """The `Status.message` of an error body, else its start."""
    try:
        decoded = json.loads(body)
        if isinstance(decoded, dict) and decoded.get("message"):
            return str(decoded["message"])
    except ValueError:
        pass
    text = body[:200].decode(errors="replace").strip()
    return text or f"HTTP {status}"


@dataclass
class ClusterClient:
    """GET JSON from one API server. ``api`` is a `kubernetes.client.ApiClient`."""

    api: Any
    context: str
    timeout: float = 30.0
    retries: int = 4
    backoff: float = 0.5
    requests: int = field(default=0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def server(self) -> str:
        return str(self.api.configuration.host)

    def get(self, path: str, params: dict[str, Any] | None = None, accept: str = "application/json") -> dict[str, Any]:
        """GET ``path`` and decode the JSON body; raises `ApiError` after the retries are used up."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        query = f"?{urlencode({k: v for k, v in (params or {}).items() if v not in (None, '')})}" if params else ""
        attempt = 0
        while True:
            attempt += 1
            method, url, headers, _, _ = self.api.param_serialize(
                "GET", path, header_params={"Accept": accept}, auth_settings=["BearerToken"])
            retry_after = None
            try:
                response = self.api.call_api(method, url + query, headers, _request_timeout=self.timeout)
                body = response.read()
                status = response.status
                retry_after = response.headers.get("Retry-After")
            except (ApiException, HTTPError, OSError) as exc:
                status, body = getattr(exc, "status", 0) or 0, str(getattr(exc, "reason", "") or exc).encode()
                if status == 0:
                    status_text = f"cannot reach {self.server}: {body.decode(errors='replace').splitlines()[0]}"
                    if attempt > self.retries:
                        raise ApiError(0, status_text, path) from None
                    time.sleep(backoff_delay(attempt, self.backoff))
                    continue
            with self._lock:
                self.requests += 1
            if 200 <= status < 300:
                try:
                    return json.loads(body)
                except ValueError:
                    raise ApiError(status, "the API server sent a body that is not JSON", path) from None
            if status in RETRY_STATUSES and attempt <= self.retries:
                time.sleep(backoff_delay(attempt, self.backoff, retry_after))
                continue
            raise ApiError(status, error_message(status, body), path)


def connect(*, kubeconfig: str | None = None, context: str | None = None, in_cluster: bool = False,
            timeout: float = 30.0, pool_size: int = 16) -> ClusterClient:
    """A client for the chosen kubeconfig/context or the in-cluster service account; bad config -> UsageError."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    configuration = client.Configuration()
    if not in_cluster:
        kubeconfig = _kubeconfig_file(kubeconfig)
    try:
        if in_cluster:
            config.load_incluster_config(client_configuration=configuration)
            name = IN_CLUSTER_CONTEXT
        else:
            config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration,
                                    persist_config=False)
            _, active = config.list_kube_config_contexts(config_file=kubeconfig)
            name = context or (active or {}).get("name") or "default"
    except (ConfigException, OSError, ValueError, TypeError) as exc:
        where = "in-cluster config" if in_cluster else (kubeconfig or "kubeconfig")
        raise UsageError(f"{where}: cannot load cluster credentials: {exc}") from None
    configuration.connection_pool_maxsize = pool_size
    configuration.retries = False  # our own retry loop decides
    return ClusterClient(api=client.ApiClient(configuration), context=str(name), timeout=timeout)


def _kubeconfig_file(given: str | None) -> str | None:
    """The kubeconfig to load: --kubeconfig, else None for the client's search ($KUBECONFIG, ~/.kube/config).

    A missing file is a UsageError saying which file (and, when nothing was given, where kguard looked).
    """
    import os

    if given:
        if not os.path.isfile(given):
            reason = "is a directory, not a kubeconfig file" if os.path.isdir(given) else "no such file"
            raise UsageError(f"--kubeconfig {given}: {reason}")
        return given
    listed = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    default = os.path.expanduser("~/.kube/config")
    if any(os.path.isfile(p) for p in listed) or (not listed and os.path.isfile(default)):
        return None  # the client's own search (it merges the files of $KUBECONFIG)
    looked = (f"$KUBECONFIG ({os.pathsep.join(listed)})" if listed else f"$KUBECONFIG (not set) and {default}")
    raise UsageError(f"no kubeconfig found: looked in {looked}; give --kubeconfig FILE, or --in-cluster inside a pod")
