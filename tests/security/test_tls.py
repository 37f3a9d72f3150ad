"""TLS on both hub kinds with certificates from `feddeck certs init`: a TLS client gets
through, a plain one does not; with mutual TLS a client without a certificate does not."""

from __future__ import annotations

import pytest

from app.backends.embedded import start_embedded_hub
from app.backends.factory import create_hub
from app.cli import main
from app.services.security.certs import server_tls
from app.wire.hub import HubError
from app.wire.messages import Message, MessageType
from tests.hubs.conftest import wait_for


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    assert (
        main(
            [
                "--data-dir",
                str(directory / "d"),
                "certs",
                "init",
                str(directory),
                "--client",
                "edge1",
            ]
        )
        == 0
    )
    return directory


def _try(url: str, opened: list, timeout: float = 4.0):
    hub = create_hub(url, f"n{len(opened)}")
    opened.append(hub)
    hub.connect(timeout=timeout)
    return hub


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mqtt", "grpc"])
def test_tls_hub_takes_tls_clients_only(kind, pki):
    hub = start_embedded_hub(kind, tls=server_tls(pki))
    port = hub.url.rsplit(":", 1)[1]
    opened: list = []
    try:
        assert hub.url.startswith(f"{kind}s://")
        secure = f"{kind}s://localhost:{port}?ca={pki / 'ca.pem'}"
        rx, tx = _try(secure, opened), _try(secure, opened)
        got = []
        rx.subscribe("fd/t/#", lambda t, m: got.append(m.body))
        tx.publish("fd/t/x", Message(MessageType.DATA, body={"over": "tls"}))
        wait_for(lambda: got, 10, "a message over TLS")
        assert got == [{"over": "tls"}]
        with pytest.raises(HubError):  # plain text to a TLS-only hub
            _try(f"{kind}://127.0.0.1:{port}", opened)
        with pytest.raises(HubError):  # a hub certificate from a CA the client does not trust
            _try(f"{kind}s://localhost:{port}", opened)
    finally:
        for client in opened:
            client.close()
        hub.stop()


@pytest.mark.slow
def test_mutual_tls_needs_a_client_certificate(pki):
    hub = start_embedded_hub("grpc", tls=server_tls(pki, mutual=True))
    port = hub.url.rsplit(":", 1)[1]
    base = f"grpcs://localhost:{port}?ca={pki / 'ca.pem'}"
    opened: list = []
    try:
        with pytest.raises(HubError):
            _try(base, opened)
        client = _try(f"{base}&cert={pki / 'edge1.pem'}&key={pki / 'edge1.key'}", opened)
        assert client.state.name == "CONNECTED"
    finally:
        for client in opened:
            client.close()
        hub.stop()


def test_certs_init_refuses_to_overwrite_a_ca(pki, capsys):
    assert main(["--data-dir", str(pki / "d"), "certs", "init", str(pki)]) == 1
    assert "already holds a CA" in capsys.readouterr().err
    assert (pki / "ca.key").stat().st_mode & 0o077 == 0
