"""The guards through the HTTP API: three real API processes share the pumping guard's limits,
refusals are 429 with Retry-After or 422 naming ``to``, and an API key's own country lists."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from dispatcher.api.api_keys import key_digest
from dispatcher.config.settings import ApiKeySettings
from dispatcher.store.redis_keys import METRICS
from tests.api_processes import running_apis
from tests.conftest import OPERATOR_KEY, SENDER_KEY, ApiFactory
from tests.integration.http_api.test_api import call, exchange

API_KEY = "test-guard-run-key-91c4"
NUMBER = "+14155552671"


@pytest.fixture
def api_processes(stack_env: dict[str, str], tmp_path: Path) -> Iterator[list[str]]:
    """Three `smsdispatch api` processes, 5 messages a number an hour, ranges unlimited."""
    env = {
        **stack_env,
        "SMSD_API__API_KEYS": API_KEY,
        "SMSD_GUARD__PER_NUMBER": "5",
        "SMSD_GUARD__PER_RANGE": "0",
    }
    with running_apis(env, tmp_path, 3) as urls:
        yield urls


def test_three_api_processes_share_one_numbers_limit(
    api_processes: list[str], redis_client: redis.Redis
) -> None:
    def post(n: int) -> tuple[int, dict[str, object], dict[str, str]]:
        url = api_processes[n % 3]
        body = {"to": NUMBER, "body": f"your code is {n:06d}", "category": "otp"}
        return exchange("POST", f"{url}/v1/messages", body, key=API_KEY)

    with ThreadPoolExecutor(max_workers=30) as pool:
        answers = list(pool.map(post, range(60)))
    statuses = [status for status, _, _ in answers]
    assert statuses.count(202) == 5
    assert statuses.count(429) == 55
    refused = [(body, headers) for status, body, headers in answers if status == 429]
    for body, headers in refused:
        error = body["error"]
        assert isinstance(error, dict)
        assert error["code"] == "destination_rate_limited"
        assert error["limit"] == "per_number"
        assert error["retry_after_s"] == int(headers["Retry-After"]) >= 1
        assert set(error["fields"]) == {"to"}
    assert len(redis_client.keys("smsd:msg:*")) == 5
    assert redis_client.hget(METRICS, "refused|destination_rate_limited") == "55"


def test_an_api_key_sends_only_to_its_own_countries(
    api_factory: ApiFactory, redis_client: redis.Redis
) -> None:
    keys = {
        "operator": ApiKeySettings(sha256=key_digest(OPERATOR_KEY), scopes=("send", "operate")),
        "webshop": ApiKeySettings(sha256=key_digest(SENDER_KEY), allowed_countries=("GB",)),
    }
    api = api_factory(api={"keys": keys})
    status, body = call(
        "POST", f"{api.url}/v1/messages", {"to": NUMBER, "body": "hi"}, key=SENDER_KEY
    )
    assert status == 422
    assert body["error"]["code"] == "country_not_allowed"
    assert body["error"]["fields"] == {
        "to": "to: is a number in US, which is not on the allowed countries (GB)"
    }
    uk = {"to": "+447400123456", "body": "hi"}
    assert call("POST", f"{api.url}/v1/messages", uk, key=SENDER_KEY)[0] == 202
    # The other key keeps [guard]'s lists: every country.
    assert (
        call("POST", f"{api.url}/v1/messages", {"to": NUMBER, "body": "hi"}, key=OPERATOR_KEY)[0]
        == 202
    )
    batch = {"messages": [{"to": NUMBER, "body": "a"}, uk]}
    status, body = call("POST", f"{api.url}/v1/messages:batch", batch, key=SENDER_KEY)
    assert (status, body["accepted"], body["refused"]) == (200, 1, 1)
    assert body["results"][0]["error"]["code"] == "country_not_allowed"
    assert redis_client.hget(METRICS, "refused|country_not_allowed") == "2"
