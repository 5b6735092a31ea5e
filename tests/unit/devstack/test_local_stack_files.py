"""docker-compose.yml and the Prometheus scrape config cannot run here (no Docker engine); their
shape is checked instead, so they stay true to the code."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]


def test_compose_runs_every_service_the_readme_names() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"redis", "simulator", "worker", "api", "flower", "prometheus"}
    redis_command = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_command
    assert "--maxmemory-policy noeviction" in redis_command
    assert services["worker"]["command"] == ["worker"]
    assert services["api"]["command"][0] == "api"
    mount = services["prometheus"]["volumes"][0].split(":")[0]
    scrape = yaml.safe_load((REPO / mount).read_text())
    targets = scrape["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == ["api:8080"]
    assert scrape["scrape_configs"][0]["metrics_path"] == "/metrics"


def test_compose_sets_every_provider_secret_the_simulator_needs() -> None:
    """Each provider of config/default.toml gets its base URL and secrets in compose."""
    from dispatcher.config.settings import SECRET_SETTINGS
    from providers.simulator.app import PERSONALITIES
    from tests.conftest import default_settings

    text = (REPO / "docker-compose.yml").read_text()
    for name, provider in default_settings().providers.items():
        assert f"SMSD_PROVIDERS__{name.upper()}__BASE_URL" in text
        for setting in PERSONALITIES[provider.kind].credential_settings:
            if setting in SECRET_SETTINGS:
                assert f"SMSD_PROVIDERS__{name.upper()}__{setting.upper()}" in text


def test_makefile_targets_the_readme_names() -> None:
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z-]+):", makefile, re.MULTILINE))
    assert {"dev", "demo", "test", "test-all", "up", "down", "logs"} <= targets
