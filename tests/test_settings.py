from pathlib import Path

import pytest

from app.config import DEFAULT_HUB_URL, Settings, validate_hub_url
from app.errors import InvalidInput


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
