from pathlib import Path

import pytest

from app.config import DEFAULT_HUB_URL, Settings
from app.errors import InvalidInput
from app.wire.transports import validate_hub_url


def test_defaults_live_in_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FEDDECK_DATA_DIR", str(tmp_path / "d"))
    s = Settings.load()
    assert s.data_dir == (tmp_path / "d").resolve() and s.data_dir.is_dir()
    assert s.db_url == f"sqlite:///{s.data_dir / 'feddeck.db'}"
    assert s.hub_url == DEFAULT_HUB_URL


def test_arguments_override_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FEDDECK_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("FEDDECK_HUB_URL", "grpc://localhost:1")
    s = Settings.load(data_dir=tmp_path / "arg", hub_url="mqtt://127.0.0.1:1883")
    assert s.data_dir.name == "arg" and s.hub_url == "mqtt://127.0.0.1:1883"


def test_default_data_dir_is_the_platform_user_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("FEDDECK_DATA_DIR")
    monkeypatch.setattr("platformdirs.user_data_dir", lambda app: str(tmp_path / "pd" / app))
    assert Settings.load().data_dir == (tmp_path / "pd" / "feddeck").resolve()


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("http://x:1", "scheme"),
        ("mqtt://:1883", "no host"),
        ("grpc://host", "no port"),
        ("mqtt://host:99999", "invalid port"),
        ("embedded://kafka", "embedded hub"),
    ],
)
def test_bad_hub_urls(url, error):
    with pytest.raises(InvalidInput, match=error):
        validate_hub_url(url)


def test_bad_db_urls(tmp_path):
    with pytest.raises(InvalidInput, match="not a SQLAlchemy URL"):
        Settings.load(data_dir=tmp_path, db_url="not a url")
    with pytest.raises(InvalidInput, match="does not exist"):
        Settings.load(data_dir=tmp_path, db_url=f"sqlite:///{tmp_path / 'no' / 'x.db'}")


def test_unwritable_data_dir(tmp_path):
    target = Path("/proc/feddeck-cannot-exist")
    with pytest.raises(InvalidInput, match="data dir"):
        Settings.load(data_dir=target)


def test_wire_limits_come_from_the_settings_file_and_reach_the_hub(tmp_path):
    import numpy as np

    from app.backends.factory import create_hub
    from app.wire.messages import Message, MessageType

    (tmp_path / "feddeck.toml").write_text("[wire]\nchunk_kib = 64\nmax_message_mib = 1\n")
    wire = Settings.load(data_dir=tmp_path).wire
    assert (wire.chunk_size, wire.max_message_size) == (64 * 1024, 1 << 20)
    sizes: list[int] = []
    with (
        create_hub("local://wire", "rx", limits=wire) as rx,
        create_hub("local://wire", "tx", limits=wire) as tx,
    ):
        rx.subscribe("fd/#", lambda t, m: None)
        original = rx._on_chunk
        rx._on_chunk = lambda topic, chunk: (sizes.append(len(chunk)), original(topic, chunk))
        tx.publish("fd/a", Message(MessageType.DATA, tensors={"w": np.zeros(300_000, np.uint8)}))
        with pytest.raises(InvalidInput, match="exceeds the hub limit of 1048576"):
            tx.publish("fd/a", Message(MessageType.DATA, tensors={"w": np.zeros(1 << 20)}))
    assert len(sizes) == 5 and max(sizes) <= 64 * 1024 + 36


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("wire = 3", r"\[wire\] must be a table"),
        ("[wire]\nchunk = 1", "unknown \\[wire\\] key\\(s\\) chunk"),
        ("[wire]\nchunk_kib = 8192", "chunk_kib must be a whole number from 1 to 4032, not 8192"),
        ("[wire]\nchunk_kib = '64'", "chunk_kib must be a whole number"),
        ("[wire]\nmax_message_mib = 0", "max_message_mib must be a whole number"),
        ("[wire]\nchunk_kib = 4000\nmax_message_mib = 2", "smaller than one chunk"),
        ("direct = 1", r"\[direct\] must be a table"),
        ("[direct]\nport = 1", r"unknown key\(s\) port; known: enabled, min_mib, host"),
        ("[direct]\nenabled = 'yes'", "enabled must be true or false, not 'yes'"),
        ("[direct]\nmin_mib = -1", "min_mib must be a number of MiB from 0, not -1"),
        ("[direct]\nmin_mib = nan", "min_mib must be a number of MiB from 0"),
        ("[direct]\nhost = 'a b'", "host must be a host name or address, not 'a b'"),
    ],
)
def test_bad_wire_and_direct_settings_are_refused_by_name(tmp_path, text, error):
    (tmp_path / "feddeck.toml").write_text(text)
    with pytest.raises(InvalidInput, match=error):
        Settings.load(data_dir=tmp_path)
    assert (tmp_path / "feddeck.toml").read_text() == text  # nothing rewritten


def test_direct_settings_come_from_the_settings_file(tmp_path):
    assert Settings.load(data_dir=tmp_path).direct.min_mib == 4.0  # the default
    (tmp_path / "feddeck.toml").write_text('[direct]\nmin_mib = 0.5\nhost = "10.0.0.7"\n')
    direct = Settings.load(data_dir=tmp_path).direct
    assert (direct.enabled, direct.min_mib, direct.host) == (True, 0.5, "10.0.0.7")


@pytest.mark.parametrize(
    ("hub", "host", "tls"),
    [
        ("mqtt://127.0.0.1:1883", "127.0.0.1", False),
        ("grpcs://localhost:50051", "127.0.0.1", True),
        ("mqtts://[::1]:8883", "127.0.0.1", True),
        ("local://x", "127.0.0.1", False),
    ],
)
def test_the_direct_channel_listens_where_the_hub_is_reached_from(hub, host, tls):
    from app.config import DirectSettings
    from app.services.runs.serving import direct_plan

    plan = direct_plan(DirectSettings(min_mib=2), hub)
    assert (plan.host, plan.min_bytes, plan.tls) == (host, 2 << 20, tls)
    assert direct_plan(DirectSettings(enabled=False), hub) is None
    assert direct_plan(DirectSettings(host="192.0.2.4"), hub).host == "192.0.2.4"
