"""Routes: prefix choice, weighted splits, health factors and route validation. Pure."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

from dispatcher.config.settings import WeightedProvider, load_settings
from dispatcher.core.routing import Route, draw_for, order_route, route_for, shares
from dispatcher.errors import ConfigError

PREFIXES = {"44": Route(("sinch",)), "447": Route(("vonage", "sinch")), "1": Route(("twilio",))}
DEFAULT = Route(("sinch", "twilio"))
ALL = {"sinch", "twilio", "vonage"}


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("+447700900123", ("vonage", "sinch")),  # longest prefix wins
        ("+442079460000", ("sinch",)),
        ("+14155552671", ("twilio",)),
        ("+33612345678", ("sinch", "twilio")),  # default
    ],
)
def test_longest_prefix_wins(number: str, expected: tuple[str, ...]) -> None:
    route = route_for(number, override=(), prefixes=PREFIXES, default=DEFAULT, enabled=ALL)
    assert route.providers == expected


def test_override_and_disabled_providers() -> None:
    """A message's own list wins over routes; disabled providers drop out of any route."""
    route = route_for(
        "+447700900123",
        override=("twilio", "vonage"),
        prefixes=PREFIXES,
        default=DEFAULT,
        enabled={"twilio", "sinch"},
    )
    assert route == Route(("twilio",))
    weighted = Route(("sinch", "twilio", "vonage"), (70.0, 30.0, 0.0))
    assert weighted.only({"sinch", "vonage"}) == Route(("sinch", "vonage"), (70.0, 0.0))


def test_draw_is_fixed_by_the_message_id_and_uniform() -> None:
    assert draw_for("msg_a") == draw_for("msg_a")
    draws = [draw_for(f"msg_{i}") for i in range(10_000)]
    assert all(0 <= d < 1 for d in draws)
    assert 0.45 < sum(draws) / len(draws) < 0.55


def test_weighted_route_splits_first_attempts_by_weight() -> None:
    """70/30 over 10,000 message ids lands within two points of 70/30; weight 0 never leads."""
    route = Route(("sinch", "twilio", "vonage"), (70.0, 30.0, 0.0))
    firsts = collections.Counter(
        order_route(route, draw_for(f"msg_{i}"), {})[0] for i in range(10_000)
    )
    assert firsts.keys() == {"sinch", "twilio"}
    assert 0.68 < firsts["sinch"] / 10_000 < 0.72


def test_failover_order_after_the_drawn_provider() -> None:
    """The drawn provider leads; the others follow by share; weight 0 comes last."""
    route = Route(("a", "b", "c", "d"), (10.0, 50.0, 0.0, 40.0))
    assert order_route(route, 0.05, {}) == ("a", "b", "d", "c")
    assert order_route(route, 0.5, {}) == ("b", "d", "a", "c")
    assert order_route(route, 0.99, {}) == ("d", "b", "a", "c")
    assert order_route(Route(("x", "y")), 0.99, {}) == ("x", "y")  # unweighted: as configured


def test_health_factors_shrink_a_share() -> None:
    """A factor of 0.1 on a 50/50 route gives that provider 1/11 of first attempts."""
    route = Route(("a", "b"), (50.0, 50.0))
    assert shares(route, {}) == {"a": 0.5, "b": 0.5}
    share = shares(route, {"a": 0.1})
    assert share["a"] == pytest.approx(1 / 11)
    assert order_route(route, 0.5, {"a": 0.1})[0] == "b"
    # Every factor 0 falls back to the configured weights rather than dividing by zero.
    assert shares(route, {"a": 0.0, "b": 0.0}) == {"a": 0.5, "b": 0.5}


@pytest.mark.parametrize(
    ("steps", "reason"),
    [
        ((), "at least one provider"),
        (("a", WeightedProvider(provider="b", weight=1)), "a weight, or none"),
        (("a", "a"), "more than once"),
        ((WeightedProvider(provider="a", weight=0),), "above 0"),
    ],
)
def test_routes_that_make_no_sense_are_refused(steps: tuple[object, ...], reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as caught:
        Route.from_steps("routes.prefixes.44", steps)
    assert str(caught.value).startswith("routes.prefixes.44: ")


def _load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, routes: str) -> object:
    path = tmp_path / "smsd.toml"
    path.write_text(
        '[providers.a]\nkind = "sinch"\n[providers.b]\nkind = "twilio"\n' + routes,
        encoding="utf-8",
    )
    monkeypatch.setenv("SMSD_CONFIG", str(path))
    return load_settings()


def test_weighted_routes_load_from_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _load(
        tmp_path,
        monkeypatch,
        '[routes]\ndefault = ["a"]\n[routes.prefixes]\n'
        '"44" = [{provider = "a", weight = 70}, {provider = "b", weight = 30}]\n',
    )
    assert settings.routes.prefix_routes["44"] == Route(("a", "b"), (70.0, 30.0))  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("routes", "setting", "reason"),
    [
        ('[routes]\ndefault = ["ghost"]\n', "routes.default", "'ghost'"),
        (
            '[routes]\ndefault = ["a"]\n[routes.prefixes]\n'
            '"44" = ["a", {provider = "b", weight = 1}]\n',
            "routes.prefixes.44",
            "a weight, or none",
        ),
        (
            '[routes]\ndefault = [{provider = "a", weight = 0}, {provider = "b", weight = 0}]\n',
            "routes.default",
            "above 0",
        ),
        (
            '[routes]\ndefault = ["a"]\n[routes.prefixes]\n"4x" = ["a"]\n',
            "routes.prefixes.4x",
            "digits",
        ),
        (
            '[routes]\ndefault = ["a"]\n[routes.prefixes]\n"44" = []\n',
            "routes.prefixes.44",
            "at least",
        ),
        ('[routes]\ndefault = [{provider = "a", weight = -1}]\n', "routes.default", "greater than"),
    ],
)
def test_route_config_errors_name_the_route(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, routes: str, setting: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, monkeypatch, routes)
    assert caught.value.setting.startswith(setting)
    assert reason in str(caught.value)
