"""`feddeck hub --grpc` and `--mqtt` as real processes that other nodes connect to."""

import subprocess
import sys

import pytest

from app.backends.factory import create_hub
from app.backends.mqtt.embedded_broker import free_port
from app.config import Settings
from app.wire.hub import HubError
from app.wire.messages import Message, MessageType
from tests.hubs.conftest import wait_for
from tests.waiting import wait_port


@pytest.mark.parametrize("kind", ["grpc", "mqtt"])
def test_standalone_hub_process(kind, tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app",
            "--data-dir",
            str(tmp_path),
            "hub",
            f"--{kind}",
            f"127.0.0.1:{port}",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_port(port, timeout=20)
        got = []
        url = f"{kind}://127.0.0.1:{port}"
        token = Settings.load(data_dir=tmp_path).hub_token  # the hub reads the same data dir
        stranger = create_hub(url, "stranger")
        with pytest.raises(HubError):  # no token, no entry
            stranger.connect(timeout=3)
        stranger.close()
        with create_hub(url, "rx", token=token) as rx, create_hub(url, "tx", token=token) as tx:
            rx.subscribe("fd/#", lambda t, m: got.append(m))
            tx.publish("fd/x/y", Message(MessageType.DATA, body={"ok": True}))
            wait_for(lambda: got, 10, "delivery through the standalone hub")
        assert got[0].body == {"ok": True}
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert f"hub on {kind}://127.0.0.1:{port} for registered edges" in err


def test_bad_hub_address(capsys, tmp_path):
    from app.cli import main

    assert main(["--data-dir", str(tmp_path), "hub", "--grpc", "nowhere"]) == 1
    assert "HOST:PORT" in capsys.readouterr().err
