"""The OpenAPI document against the application: every route is in it (and nothing else), and a
schemathesis run finds no 5xx and no answer that contradicts it."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from dispatcher.api.app import build_api
from dispatcher.api.openapi import openapi_document
from dispatcher.config.provider_adapters import build_providers
from dispatcher.config.settings import Settings
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.store.redis_keys import WORKER_HEARTBEATS
from tests.conftest import OPERATOR_KEY, ApiFactory, RunningApi, default_settings
from tests.integration.http_api.test_api import call


def test_document_lists_exactly_the_routes(
    settings: Settings, dispatcher: Dispatcher, api_factory: ApiFactory
) -> None:
    api = api_factory()
    app = build_api(api.settings, dispatcher, build_providers(api.settings))
    routes = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    document = openapi_document(settings)
    documented = {
        (method, path) for path, operations in document["paths"].items() for method in operations
    }
    assert routes == documented
    served = call("GET", f"{api.url}/openapi.json", key=None)
    assert served == (200, document)


@pytest.fixture
def running_api(api_factory: ApiFactory, redis_client: redis.Redis) -> RunningApi:
    """The API of a ready system: a worker's heartbeat is fresh (so /readyz is 200)."""
    redis_client.zadd(WORKER_HEARTBEATS, {"schema-run": int(time.time() * 1000)})
    return api_factory()


# The document of config/default.toml, the configuration the test API runs with. A body over
# api.max_body_bytes is refused with 413, which schemathesis does not count as a refusal unless
# told.
REFUSALS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
schema = schemathesis.openapi.from_dict(
    openapi_document(default_settings()),
    config=schemathesis.Config.from_dict(
        {"checks": {"negative_data_rejection": {"expected-statuses": [*REFUSALS, "5xx"]}}}
    ),
)


@schema.parametrize()
@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,  # the same examples every run: CI repeats what was checked here
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_5xx_and_answers_match_the_document(case: Any, running_api: RunningApi) -> None:
    """Every check but positive_data_acceptance: a phone number that matches the document's
    pattern may still be one libphonenumber calls invalid (refused with 422, as it should be)."""
    case.call_and_validate(
        base_url=running_api.url,
        headers={"Authorization": f"Bearer {OPERATOR_KEY}"},
        excluded_checks=[positive_data_acceptance],
    )
