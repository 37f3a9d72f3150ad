"""One hub per port: a second gRPC hub never binds beside the first (grpcio would, with
SO_REUSEPORT, and split the nodes between them), and a command that finds the embedded
hub's port held by something that is no hub says what holds it."""

import os
import socket

import pytest

from app.backends.embedded import PortTaken, start_embedded_hub
from app.backends.grpc.server import GrpcHubServer
from app.cli import main


def test_a_second_grpc_hub_cannot_bind_the_same_port():
    with GrpcHubServer() as first:
        with pytest.raises(OSError, match=f"could not bind 127.0.0.1:{first.port}"):
            GrpcHubServer(port=first.port).start()
        with pytest.raises(PortTaken, match=f"port {first.port} .* held by process {os.getpid()}"):
            start_embedded_hub("grpc", "127.0.0.1", first.port)


@pytest.mark.slow
def test_a_command_names_what_holds_the_embedded_port(tmp_path, capsys):
    """`job list` needs no hub; `scheduler` does, and the port is held by a plain socket."""
    from app.wire.transports import TRANSPORTS

    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        holder.bind(("127.0.0.1", TRANSPORTS["grpc"].embedded_port))
    except OSError:
        pytest.skip("the embedded gRPC port is in use on this machine")
    holder.listen()
    try:
        os.environ["FEDDECK_PASSWORD"] = "rootpass123"
        data = ["--data-dir", str(tmp_path / "deck"), "--hub-url", "embedded://grpc"]
        assert main([*data, "user", "add", "root", "--role", "admin"]) == 0
        capsys.readouterr()
        code = main([*data, "scheduler", "--user", "root"])
    finally:
        holder.close()
        os.environ.pop("FEDDECK_PASSWORD", None)
    err = capsys.readouterr().err
    assert code == 1
    assert f"port {TRANSPORTS['grpc'].embedded_port} is held by process {os.getpid()}" in err, err
    assert "--hub-url" in err
