"""Configuration errors stop start-up with the setting (and environment variable) to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatcher.config.dev_state import resolve_redis_url
from dispatcher.config.provider_adapters import build_providers
from dispatcher.config.settings import load_settings
from dispatcher.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("SMSD_CONFIG", "SMSD_REDIS_URL", "SMSD_PROVIDERS__SINCH__API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def write_config(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "smsd.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("SMSD_CONFIG", str(path))


def test_default_file_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """config/default.toml is valid and names the simulator-backed Sinch provider."""
    monkeypatch.chdir(REPO)
    settings = load_settings()
    assert settings.providers["sinch"].kind == "sinch"
    assert settings.routes.default == ("sinch",)


def test_secret_in_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A token in the TOML file stops start-up and names the environment variable to use."""
    write_config(
        tmp_path,
        '[providers.sinch]\nkind = "sinch"\nservice_plan_id = "p"\napi_token = "leak"\n',
        monkeypatch,
    )
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.env_var == "SMSD_PROVIDERS__SINCH__API_TOKEN"
    assert "leak" not in str(caught.value)


def test_sentinel_password_in_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Sentinels' password is a secret too: it comes from SMSD_SENTINEL_PASSWORD only."""
    write_config(tmp_path, 'sentinel_master = "smsd"\nsentinel_password = "leak"\n', monkeypatch)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.setting == "sentinel_password"
    assert caught.value.env_var == "SMSD_SENTINEL_PASSWORD"
    assert "leak" not in str(caught.value)


def test_missing_token_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A provider without its token fails with the environment variable to set."""
    write_config(
        tmp_path, '[providers.sinch]\nkind = "sinch"\nservice_plan_id = "p"\n', monkeypatch
    )
    with pytest.raises(ConfigError) as caught:
        build_providers(load_settings())
    assert caught.value.setting == "providers.sinch.api_token"
    assert caught.value.env_var == "SMSD_PROVIDERS__SINCH__API_TOKEN"


def test_token_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same provider builds once the token is in the environment."""
    write_config(
        tmp_path, '[providers.sinch]\nkind = "sinch"\nservice_plan_id = "p"\n', monkeypatch
    )
    monkeypatch.setenv("SMSD_PROVIDERS__SINCH__API_TOKEN", "t0ken")
    assert set(build_providers(load_settings())) == {"sinch"}


def test_unknown_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown adapter kind is named with the kinds that exist."""
    write_config(
        tmp_path, '[providers.x]\nkind = "nosuch"\n[routes]\ndefault = ["x"]\n', monkeypatch
    )
    with pytest.raises(ConfigError) as caught:
        build_providers(load_settings())
    assert caught.value.setting == "providers.x.kind"
    assert "sinch" in str(caught.value)


def test_route_to_unknown_provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A route naming a provider that is not configured stops start-up."""
    write_config(tmp_path, '[routes]\ndefault = ["ghost"]\n', monkeypatch)
    with pytest.raises(ConfigError, match="ghost"):
        load_settings()


def test_bad_value_names_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A value of the wrong type names its dotted setting."""
    write_config(tmp_path, '[worker]\nconcurrency = "lots"\n[routes]\ndefault = []\n', monkeypatch)
    with pytest.raises(ConfigError, match=r"worker\.concurrency"):
        load_settings()


def test_no_redis_url_and_no_dev_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without SMSD_REDIS_URL and no running dev stack, the error says what to set."""
    write_config(tmp_path, "[routes]\ndefault = []\n", monkeypatch)
    with pytest.raises(ConfigError) as caught:
        resolve_redis_url(load_settings())
    assert caught.value.env_var == "SMSD_REDIS_URL"


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SMSD_SECTION__KEY beats the file."""
    write_config(tmp_path, "[worker]\nconcurrency = 8\n[routes]\ndefault = []\n", monkeypatch)
    monkeypatch.setenv("SMSD_WORKER__CONCURRENCY", "16")
    assert load_settings().worker.concurrency == 16


@pytest.mark.parametrize("schedule", ["[]", "[30, 0]", "[100000]"])
def test_a_bad_lookup_schedule_names_the_setting(
    schedule: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Status lookups wait 1 s to a day between two lookups, and a schedule has one wait at
    least: anything else stops the start with the setting named."""
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("SMSD_PROVIDERS__GOSMS__POLL_SCHEDULE_S", schedule)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "providers.gosms.poll_schedule_s" in str(caught.value)
