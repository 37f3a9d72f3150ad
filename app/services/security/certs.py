"""A small local PKI for a lab without its own: a CA, a hub (server) certificate for the
given host names and addresses, and client certificates for mutual TLS.

    DIR/ca.pem  ca.key            the authority (keep ca.key off the edges)
    DIR/server.pem  server.key    for `feddeck hub --tls DIR` / the embedded hub
    DIR/<client>.pem  <client>.key   one per client, for mutual TLS

Keys are EC P-256, written readable by their owner only.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.backends.embedded import ServerTls
from app.errors import InvalidInput
from app.services.security.auth import validate_name

VALID_DAYS = 825  # what browsers and most TLS stacks accept for leaf certificates


def _write(path: Path, data: bytes, private: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "FedDeck lab"),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def _san(host: str):
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def init_certs(
    directory: Path, hosts: list[str], clients: list[str], force: bool = False
) -> dict[str, str]:
    """Write the CA, the server certificate (for `hosts`) and one certificate per client."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID

    if not hosts:
        raise InvalidInput("give at least one --host for the hub certificate")
    for client in clients:
        validate_name("client", client)
    if (directory / "ca.key").exists() and not force:
        raise InvalidInput(f"{directory} already holds a CA; pass --force to replace it")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create {directory}: {exc.strerror}") from exc
    now = datetime.now(UTC) - timedelta(minutes=5)  # tolerate small clock skew
    ca_key = _key()
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("FedDeck lab CA"))
        .issuer_name(_name("FedDeck lab CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    _write(directory / "ca.pem", ca.public_bytes(pem), private=False)
    _write(directory / "ca.key", _pem_key(ca_key), private=True)

    def leaf(name: str, common: str, usage, sans: list[str]) -> None:
        key = _key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if sans:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([_san(h) for h in sans]), critical=False
            )
        cert = builder.sign(ca_key, hashes.SHA256())
        _write(directory / f"{name}.pem", cert.public_bytes(pem), private=False)
        _write(directory / f"{name}.key", _pem_key(key), private=True)

    leaf("server", hosts[0], ExtendedKeyUsageOID.SERVER_AUTH, hosts)
    for client in clients:
        leaf(client, client, ExtendedKeyUsageOID.CLIENT_AUTH, [])
    return {
        "directory": str(directory),
        "ca": str(directory / "ca.pem"),
        "server": str(directory / "server.pem"),
        "hosts": ", ".join(hosts),
        "clients": ", ".join(clients),
    }


def server_tls(directory: Path, mutual: bool = False) -> ServerTls:
    """The hub's side of `init_certs`' files; checked to exist."""
    files = ServerTls(
        directory / "ca.pem", directory / "server.pem", directory / "server.key", mutual
    )
    for path in (files.ca, files.cert, files.key):
        if not path.is_file():
            raise InvalidInput(f"{path} is missing: make it with `feddeck certs init {directory}`")
    return files
