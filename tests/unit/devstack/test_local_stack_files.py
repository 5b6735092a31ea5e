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
    always = {name for name, service in services.items() if "profiles" not in service}
    assert always == {"redis", "simulator", "worker", "api", "flower", "prometheus"}
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


def test_the_sentinel_profile_watches_redis_with_a_quorum_of_two() -> None:
    """A replica of `redis` and three Sentinels, only under the `sentinel` profile; the services
    reach Redis through SMSD_REDIS_URL, which may name the Sentinels."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    profiled = {name for name, s in services.items() if "sentinel" in s.get("profiles", [])}
    assert profiled == {"redis-replica", "sentinel-1", "sentinel-2", "sentinel-3"}
    assert "--replicaof redis 6379" in " ".join(services["redis-replica"]["command"])
    for n in (1, 2, 3):
        script = services[f"sentinel-{n}"]["command"][-1]
        assert "sentinel monitor smsd redis 6379 2" in script
        assert script.rstrip().endswith("--sentinel")
    env = services["worker"]["environment"]
    assert env["SMSD_REDIS_URL"].startswith("${SMSD_REDIS_URL:-")
    assert "SMSD_SENTINEL_MASTER" in env


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
