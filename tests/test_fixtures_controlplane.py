"""The control-plane fixture starts a real kube-apiserver + etcd with working RBAC (and its pure helpers)."""

from __future__ import annotations

import datetime
import ipaddress
import json
import secrets
import socket
import urllib.parse
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from tests.fixtures.controlplane import (
    ControlPlane,
    ControlPlaneUnavailable,
    api_request,
    control_plane,  # noqa: F401 - fixture
    find_control_plane_binaries,
    kube_apiserver_args,
    running_control_plane,
    write_kubeconfig,
)
from tests.fixtures.pki import write_control_plane_pki
from tests.fixtures.tools import pinned_kubernetes_version


def _client(kubeconfig: Path):
    from kubernetes import config

    return config.new_client_from_config(config_file=str(kubeconfig))


def _port_open(server: str) -> bool:
    parsed = urllib.parse.urlparse(server)
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((parsed.hostname, parsed.port)) == 0


# --- fast unit tests of the helpers -------------------------------------------------------------------------


def test_pinned_kubernetes_version_is_read_from_go_mod(tmp_path: Path) -> None:
    go_mod = tmp_path / "go.mod"
    go_mod.write_text("module x\n\nrequire (\n\tk8s.io/kubernetes v1.99.7\n)\n")
    assert pinned_kubernetes_version(go_mod) == "v1.99.7"
    go_mod.write_text("module x\n")
    with pytest.raises(ValueError, match=r"no k8s\.io/kubernetes"):
        pinned_kubernetes_version(go_mod)


def test_pinned_version_matches_replace_block() -> None:
    version = pinned_kubernetes_version()
    staging = "v0." + version.removeprefix("v1.")
    go_mod = (Path(__file__).parent / "controlplane" / "go.mod").read_text()
    replaced = [line.split() for line in go_mod.splitlines() if "=>" in line]
    assert len(replaced) > 20
    assert all(parts[-1] == staging for parts in replaced), replaced


def test_missing_binaries_name_the_build_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KGUARD_CONTROLPLANE_DIR", str(tmp_path))
    with pytest.raises(ControlPlaneUnavailable, match=r"kube-apiserver.*build-control-plane\.sh"):
        find_control_plane_binaries()


def test_pki_serving_certificate_is_signed_by_ca_for_loopback(tmp_path: Path) -> None:
    pki = write_control_plane_pki(tmp_path)
    ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    serving = x509.load_pem_x509_certificate(pki.serving_cert.read_bytes())
    serving.verify_directly_issued_by(ca)
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert serving.not_valid_after_utc > datetime.datetime.now(datetime.UTC)
    assert "PRIVATE KEY" in pki.service_account_key.read_text()
    assert pki.service_account_key.stat().st_mode & 0o077 == 0


def test_pki_service_account_public_key_matches_private_key(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    pki = write_control_plane_pki(tmp_path)
    private = serialization.load_pem_private_key(pki.service_account_key.read_bytes(), password=None)
    public = serialization.load_pem_public_key(pki.service_account_public_key.read_bytes())
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert private.public_key().public_numbers() == public.public_numbers()


def test_kubeconfig_is_loadable_by_the_kubernetes_client(tmp_path: Path) -> None:
    from kubernetes import config

    pki = write_control_plane_pki(tmp_path)
    path = write_kubeconfig(tmp_path / "kc", "https://127.0.0.1:6443", pki.ca_cert, "auditor", "tok123")
    assert yaml.safe_load(path.read_text())["current-context"] == "auditor@kguard-test"
    api_client = config.new_client_from_config(config_file=str(path))
    assert api_client.configuration.host == "https://127.0.0.1:6443"
    assert api_client.configuration.api_key["BearerToken"] == "Bearer tok123"
    assert api_client.configuration.ssl_ca_cert == str(pki.ca_cert)


def test_kube_apiserver_args_enable_rbac_and_tokens(tmp_path: Path) -> None:
    args = kube_apiserver_args(Path("/bin/kas"), tmp_path, 1234, "http://127.0.0.1:5", tmp_path / "t.csv", tmp_path)
    assert "--authorization-mode=RBAC" in args
    assert f"--token-auth-file={tmp_path / 't.csv'}" in args
    assert "--secure-port=1234" in args
    assert "--disable-admission-plugins=ServiceAccount" in args


# --- the real control plane ---------------------------------------------------------------------------------


@pytest.mark.cluster
def test_admin_creates_and_lists_workloads(control_plane: ControlPlane) -> None:  # noqa: F811
    from kubernetes import client

    api_client = _client(control_plane.kubeconfig_admin)
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    namespace = f"kguard-fixture-{secrets.token_hex(3)}"
    labels = {"app": "web"}
    container = client.V1Container(name="web", image="nginx:1.27")
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    apps.create_namespaced_deployment(
        namespace,
        client.V1Deployment(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1DeploymentSpec(
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels), spec=client.V1PodSpec(containers=[container])
                ),
            ),
        ),
    )
    core.create_namespaced_pod(
        namespace,
        client.V1Pod(
            metadata=client.V1ObjectMeta(name="web-0", labels=labels), spec=client.V1PodSpec(containers=[container])
        ),
    )

    assert namespace in {ns.metadata.name for ns in core.list_namespace().items}
    assert [d.metadata.name for d in apps.list_namespaced_deployment(namespace).items] == ["web"]
    pods = core.list_namespaced_pod(namespace).items
    assert [p.metadata.name for p in pods] == ["web-0"]
    assert pods[0].status.phase == "Pending"  # no nodes, no scheduler


@pytest.mark.cluster
def test_auditor_reads_pods_but_gets_403_on_networkpolicies(control_plane: ControlPlane) -> None:  # noqa: F811
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    admin = client.CoreV1Api(_client(control_plane.kubeconfig_admin))
    namespace = f"kguard-audit-{secrets.token_hex(3)}"
    admin.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    admin.create_namespaced_pod(
        namespace,
        client.V1Pod(
            metadata=client.V1ObjectMeta(name="probe"),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox:1.36")]),
        ),
    )

    auditor_client = _client(control_plane.kubeconfig_auditor)
    pods = client.CoreV1Api(auditor_client).list_namespaced_pod(namespace).items
    assert [p.metadata.name for p in pods] == ["probe"]

    with pytest.raises(ApiException) as denied:
        client.NetworkingV1Api(auditor_client).list_namespaced_network_policy(namespace)
    assert denied.value.status == 403
    message = json.loads(denied.value.body)["message"]
    assert 'User "auditor" cannot list resource "networkpolicies"' in message

    with pytest.raises(ApiException) as denied_rbac:
        client.RbacAuthorizationV1Api(auditor_client).list_cluster_role()
    assert denied_rbac.value.status == 403


@pytest.mark.cluster
def test_unknown_token_is_rejected(control_plane: ControlPlane) -> None:  # noqa: F811
    status, _ = api_request(control_plane.server, control_plane.ca_file, "not-a-token", "GET", "/api/v1/pods")
    assert status == 401
    status, body = api_request(
        control_plane.server, control_plane.ca_file, control_plane.admin_token, "GET", "/version"
    )
    assert status == 200
    assert body["gitVersion"] == pinned_kubernetes_version()


@pytest.mark.cluster
def test_running_control_plane_tears_everything_down() -> None:
    find_control_plane_binaries()
    with running_control_plane() as plane:
        workdir, server = plane.workdir, plane.server
        assert _port_open(server)
        assert plane.kubeconfig_admin.exists()
    assert not workdir.exists()
    assert not _port_open(server)
