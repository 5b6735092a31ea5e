"""Where Redis is: one server's URL, or kombu's Sentinel form and the master's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatcher.config.redis_address import RedisAddress, parse_sentinels
from dispatcher.config.settings import load_settings
from dispatcher.errors import ConfigError
from dispatcher.queueing.celery_app import celery_config

THREE = "sentinel://:s%40cret@h1:26379;sentinel://h2:26380;sentinel://h3/2"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("SMSD_REDIS_URL", "SMSD_SENTINEL_MASTER", "SMSD_SENTINEL_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "smsd.toml"
    config.write_text("[routes]\ndefault = []\n", encoding="utf-8")
    monkeypatch.setenv("SMSD_CONFIG", str(config))


def test_a_sentinel_url_names_each_sentinel_the_password_and_the_database() -> None:
    found = parse_sentinels(THREE)
    assert found.hosts == (("h1", 26379), ("h2", 26380), ("h3", 26379))
    assert (found.username, found.password, found.db) == (None, "s@cret", 2)
    assert parse_sentinels("sentinel://h1").db == 0


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("sentinel://h1:26379;redis://h2:6379", "must start with sentinel://"),
        ("sentinel://h1:x", "bad port"),
        ("sentinel://:26379", "names no Sentinel host"),
        ("sentinel://h1/0;sentinel://h2/1", "more than one database"),
        ("sentinel://h1/db", "must be a number"),
        ("sentinel://h1;sentinel://:pw@h2", "first part only"),
    ],
)
def test_a_bad_sentinel_url_says_what_is_wrong(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_sentinels(url)


def test_kombu_gets_the_database_in_every_part_and_the_password_in_the_first() -> None:
    address = RedisAddress(THREE, "smsd")
    assert address.broker_url() == (
        "sentinel://:s%40cret@h1:26379/2;sentinel://h2:26380/2;sentinel://h3:26379/2"
    )
    assert address.password() == "s@cret"
    assert RedisAddress("redis://:pw@localhost:6379/0").password() == "pw"


def test_a_sentinel_url_without_its_master_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSD_REDIS_URL", THREE)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert (caught.value.setting, caught.value.env_var) == (
        "sentinel_master",
        "SMSD_SENTINEL_MASTER",
    )
    monkeypatch.setenv("SMSD_REDIS_URL", "sentinel://h1:nope")
    monkeypatch.setenv("SMSD_SENTINEL_MASTER", "smsd")
    with pytest.raises(ConfigError, match=r"redis_url.*bad port"):
        load_settings()


def test_the_broker_and_the_logs_follow_the_sentinel_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMSD_REDIS_URL", THREE)
    monkeypatch.setenv("SMSD_SENTINEL_MASTER", "smsd")
    monkeypatch.setenv("SMSD_SENTINEL_PASSWORD", "watchers-secret")
    settings = load_settings()
    config = celery_config(settings, THREE)
    assert config["broker_url"].startswith("sentinel://:s%40cret@h1:26379/2;")
    options = config["broker_transport_options"]
    assert options["master_name"] == "smsd"
    assert options["sentinel_kwargs"]["password"] == "watchers-secret"
    assert config["broker_channel_error_retry"] is True
    assert (options["health_check_interval"], options["socket_timeout"]) == (3, 3)
    assert {"s@cret", "watchers-secret"} <= set(settings.secret_values())
    plain = celery_config(settings.model_copy(update={"sentinel_master": None}), "redis://h:1/0")
    assert "master_name" not in plain["broker_transport_options"]
    assert plain["broker_transport_options"]["health_check_interval"] == 10
