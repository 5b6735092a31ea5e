"""The guards' settings: the country lists, the limits per category, and their overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatcher.config.settings import load_settings
from dispatcher.core.velocity import VelocityLimits
from dispatcher.errors import ConfigError
from tests.unit.config.test_settings import write_config

NO_ROUTES = "[routes]\ndefault = []\n"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("SMSD_CONFIG", "SMSD_GUARD__PER_NUMBER", "SMSD_GUARD__PER_RANGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_the_defaults_protect_the_bill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path, NO_ROUTES, monkeypatch)
    guard = load_settings().guard
    assert guard.limits_for("otp") == VelocityLimits(per_number=5, per_range=20, per_country=0)
    assert guard.window_s == 3600
    assert guard.allowed_countries == ()


def test_a_category_overrides_only_what_it_sets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "[guard]\nper_country = 500\n[guard.categories.otp]\nper_number = 3\n" + NO_ROUTES
    write_config(tmp_path, text, monkeypatch)
    guard = load_settings().guard
    assert guard.limits_for("otp") == VelocityLimits(3, 20, 500)
    assert guard.limits_for("marketing") == VelocityLimits(5, 20, 500)


def test_the_country_lists_come_from_the_environment_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path, '[guard]\nallowed_countries = ["US"]\n' + NO_ROUTES, monkeypatch)
    monkeypatch.setenv("SMSD_GUARD__ALLOWED_COUNTRIES", '["GB", "IE"]')
    assert load_settings().guard.allowed_countries == ("GB", "IE")


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        ('[guard]\nallowed_countries = ["uk"]\n', "guard.allowed_countries", "'uk' is not an ISO"),
        ('[guard]\ndenied_countries = ["XX"]\n', "guard.denied_countries", "'XX' is not an ISO"),
        (
            '[guard]\nallowed_countries = ["US"]\ndenied_countries = ["US"]\n',
            "guard",
            "US is both allowed and denied",
        ),
        ("[guard.categories.promo]\nper_number = 1\n", "guard.categories", "'promo' is not one"),
        ("[guard]\nper_number = -1\n", "guard.per_number", "greater than or equal to 0"),
    ],
)
def test_a_bad_guard_setting_names_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, where: str, reason: str
) -> None:
    write_config(tmp_path, text + NO_ROUTES, monkeypatch)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.setting == where
    assert reason in str(caught.value)


def test_an_api_key_may_have_its_own_countries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = f'[api.keys.shop]\nsha256 = "{"0" * 64}"\nallowed_countries = ["DE"]\n' + NO_ROUTES
    write_config(tmp_path, text, monkeypatch)
    key = load_settings().api.keys["shop"]
    assert key.allowed_countries == ("DE",)
    assert key.denied_countries is None


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        ('[routes.strategies]\n"33" = "least_cost"\n', "routes.strategies.33", "names no route"),
        (
            '[routes]\ndefault = [{provider = "sinch", weight = 1}]\n'
            '[routes.strategies]\ndefault = "least_cost"\n'
            '[providers.sinch]\nkind = "sinch"\n',
            "routes.strategies.default",
            "least_cost needs a list",
        ),
        ("[prices.ghost]\ndefault = 0.01\n", "prices.ghost", "is not a provider"),
        (
            '[prices.sinch]\nuk = 0.01\n[providers.sinch]\nkind = "sinch"\n',
            "prices.sinch.uk",
            "must be E.164 digits",
        ),
        (
            '[spend]\ndaily_limit = 10\n[providers.sinch]\nkind = "sinch"\n',
            "prices.sinch.default",
            "is needed while a spend cap is set",
        ),
    ],
)
def test_a_bad_route_strategy_or_price_names_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, where: str, reason: str
) -> None:
    body = text if text.startswith("[routes]") else text + NO_ROUTES
    write_config(tmp_path, body, monkeypatch)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.setting == where
    assert reason in str(caught.value)
