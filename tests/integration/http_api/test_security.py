"""Security: who may call what, which callbacks are believed, Redis over TLS with a password, and
what never leaves in a log line, an error, a status or a dead-letter export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from kombu.connection import Connection

from dispatcher.api.openapi import openapi_document
from dispatcher.config.settings import (
    DeliveryReportSettings,
    Settings,
    load_settings,
    reset_settings,
)
from dispatcher.devstack.embedded_redis import EmbeddedRedis
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.queueing.celery_app import broker_url_for
from dispatcher.sending.send_bridge import SendBridge
from providers.adapters.sinch import callback_signature
from providers.adapters.twilio import request_signature
from providers.simulator import ScriptedAnswer
from tests.conftest import (
    OPERATOR_KEY,
    REPO,
    SENDER_KEY,
    ApiFactory,
    RunningSimulator,
    WebApp,
    WorkerFactory,
    test_secret,
    wait_for,
)
from tests.integration.delivery_reports.test_api_reports import post_report
from tests.integration.http_api.test_api import call
from tests.integration.reliability.test_reliability import all_final, enqueue_all, numbers
from tests.tls_proxy import TlsFront

REDIS_PASSWORD = "redis-pw-3c1f9e7a"
REPORT_TOKEN = "report-token-77d2"
SINCH_WEBHOOK_SECRET = "sinch-webhook-4e0b"


# --- who may call what ----------------------------------------------------------------------


def _concrete(path: str) -> str:
    return (
        path.replace("{id}", "01M8NOSUCHMESSAGE000000000")
        .replace("{provider}", "sinch")
        .replace("{number}", "%2B14155552671")
        .replace("{country}", "US")
    )


def test_every_keyed_operation_needs_the_right_key(
    settings: Settings, api_factory: ApiFactory
) -> None:
    """Each operation the document marks with a key is refused without one and with a wrong one
    (401), and one marked ``operate`` is refused to a send-only key (403); the API answers as
    the document says, operation by operation."""
    api = api_factory()
    paths = openapi_document(settings)["paths"]
    keyed = [
        (method.upper(), path, operation["x-scope"])
        for path, operations in paths.items()
        for method, operation in operations.items()
        if "security" in operation
    ]
    assert {scope for *_, scope in keyed} == {"send", "operate"}
    for method, path, scope in keyed:
        url = api.url + _concrete(path)
        body: dict[str, Any] | None = {} if method == "POST" else None
        for key in (None, "", "wrong-key", OPERATOR_KEY[:-1], OPERATOR_KEY + "x"):
            status, answer = call(method, url, body, key=key)
            assert (status, answer["error"]["code"]) == (401, "unauthorized"), (method, path, key)
        status, answer = call(method, url, body, key=SENDER_KEY)
        if scope == "operate":
            assert (status, answer["error"]["code"]) == (403, "forbidden"), (method, path)
        else:
            assert status not in (401, 403), (method, path, status)
        status, _ = call(method, url, body, key=OPERATOR_KEY)
        assert status not in (401, 403), (method, path, status)
    open_paths = {
        path
        for path, operations in paths.items()
        for operation in operations.values()
        if "security" not in operation
    }
    # Open under /v1: only the provider callbacks, which carry their own proof.
    assert all(
        not p.startswith("/v1/") or p.startswith(("/v1/delivery-reports/", "/v1/inbound/"))
        for p in open_paths
    )


def test_delivery_reports_need_their_provider_s_proof(
    stack_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    api_factory: ApiFactory,
) -> None:
    """A callback without its proof (token, Sinch's HMAC, Twilio's signature) or with a wrong
    one is refused with 401 for every provider; with the right one it is read."""
    monkeypatch.setenv("SMSD_PROVIDERS__SINCH__WEBHOOK_SECRET", SINCH_WEBHOOK_SECRET)
    reset_settings()
    signed = load_settings()
    api = api_factory(
        delivery_reports=DeliveryReportSettings(secret=REPORT_TOKEN), providers=signed.providers
    )
    base = f"{api.url}/v1/delivery-reports"
    body = b'{"type": "recipient_delivery_report_sms", "batch_id": "01X", "status": "Delivered"}'
    for name in ("gosms", "cecula", "yellowpush", "vonage"):
        assert post_report(f"{base}/{name}", body)[0] == 401, name
        assert post_report(f"{base}/{name}?token=wrong", body)[0] == 401, name
        assert post_report(f"{base}/{name}?token={REPORT_TOKEN}x", body)[0] == 401, name
        assert post_report(f"{base}/{name}?token={REPORT_TOKEN}", body)[0] != 401, name

    # Sinch signs with webhook_secret: a token is not enough, a wrong HMAC is refused.
    assert post_report(f"{base}/sinch?token={REPORT_TOKEN}", body)[0] == 401
    nonce, timestamp = "nonce-1", str(int(time.time()))
    headers = {
        "x-sinch-webhook-signature-nonce": nonce,
        "x-sinch-webhook-signature-timestamp": timestamp,
    }
    wrong = callback_signature("not-the-secret", body, nonce, timestamp)
    assert (
        post_report(f"{base}/sinch", body, **headers, **{"x-sinch-webhook-signature": wrong})[0]
        == 401
    )
    tampered = callback_signature(SINCH_WEBHOOK_SECRET, body + b" ", nonce, timestamp)
    assert (
        post_report(f"{base}/sinch", body, **headers, **{"x-sinch-webhook-signature": tampered})[0]
        == 401
    )
    right = callback_signature(SINCH_WEBHOOK_SECRET, body, nonce, timestamp)
    assert (
        post_report(f"{base}/sinch", body, **headers, **{"x-sinch-webhook-signature": right})[0]
        == 200
    )

    # Twilio signs the URL it called and the form with the account's auth token.
    form = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    raw = urllib.parse.urlencode(form).encode()
    twilio_url = f"{base}/twilio"
    form_type = "application/x-www-form-urlencoded"
    token = stack_env["SMSD_PROVIDERS__TWILIO__AUTH_TOKEN"]
    assert post_report(twilio_url, raw, content_type=form_type)[0] == 401
    bad = request_signature("not-the-token", twilio_url, form)
    assert (
        post_report(twilio_url, raw, content_type=form_type, **{"X-Twilio-Signature": bad})[0]
        == 401
    )
    good = request_signature(token, twilio_url, form)
    assert (
        post_report(twilio_url, raw, content_type=form_type, **{"X-Twilio-Signature": good})[0]
        == 200
    )


# --- Redis over TLS, with a password --------------------------------------------------------


@pytest.fixture
def secured_redis(tmp_path: Path) -> Iterator[tuple[EmbeddedRedis, TlsFront]]:
    """A Redis that wants a password, reachable only through TLS (a test CA's certificate)."""
    server = EmbeddedRedis(tmp_path / "secured-redis", requirepass=REDIS_PASSWORD)
    server.start()
    assert server.port is not None
    front = TlsFront(server.port, tmp_path)
    front.start()
    yield server, front
    front.stop()
    server.stop()


def _tls_url(front: TlsFront, *, password: str = REDIS_PASSWORD, ca: bool = True) -> str:
    query = f"?ssl_ca_certs={front.ca_file}" if ca else ""
    return f"rediss://:{password}@127.0.0.1:{front.port}/0{query}"


def test_a_worker_runs_on_redis_over_tls_with_a_password(
    secured_redis: tuple[EmbeddedRedis, TlsFront],
    worker_factory: WorkerFactory,
    settings: Settings,
    simulator: RunningSimulator,
) -> None:
    """Enqueue (the API's path too), the Celery broker and the worker's Lua scripts all go over
    rediss:// with the password; the password is in no log line."""
    _, front = secured_redis
    url = _tls_url(front)
    worker = worker_factory({"SMSD_REDIS_URL": url})
    core = Dispatcher(settings.model_copy(update={"redis_url": url}), redis_url=url)
    try:
        with redis.Redis.from_url(url, decode_responses=True) as client:
            ids = enqueue_all(core, 50)
            final = all_final(client, ids, timeout_s=60)
        assert final["accepted"] == 50
        assert core.get_status(ids[0])["state"] in {"accepted", "delivered"}
    finally:
        core.close()
    assert REDIS_PASSWORD not in worker.log()
    assert " ready." in worker.log()


def test_an_untrusted_certificate_or_a_wrong_password_is_refused(
    secured_redis: tuple[EmbeddedRedis, TlsFront],
) -> None:
    """Without the CA the server's certificate is not believed, by redis-py and by the broker
    alike (kombu alone would not check it); a wrong password is refused."""
    _, front = secured_redis
    untrusted = _tls_url(front, ca=False)
    with (
        redis.Redis.from_url(untrusted, socket_connect_timeout=2) as client,
        pytest.raises(redis.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        client.ping()
    with (
        Connection(broker_url_for(untrusted), connect_timeout=2) as broker,  # type: ignore[no-untyped-call]
        pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        broker.ensure_connection(max_retries=1)
    with Connection(broker_url_for(_tls_url(front)), connect_timeout=2) as broker:  # type: ignore[no-untyped-call]
        broker.ensure_connection(max_retries=1)  # the same with the CA: believed
    with (
        redis.Redis.from_url(_tls_url(front, password="wrong"), socket_connect_timeout=2) as client,
        pytest.raises(redis.AuthenticationError),
    ):
        client.ping()


def test_the_cli_names_a_redis_refusal_without_the_password(
    secured_redis: tuple[EmbeddedRedis, TlsFront], stack_env: dict[str, str]
) -> None:
    """`smsdispatch send` on a Redis that refuses its password fails, saying so, and prints
    neither the password it tried nor the number."""
    _, front = secured_redis
    wrong = "wrong-pw-0b9d2c"
    done = subprocess.run(
        [sys.executable, "-m", "dispatcher", "send", "--to", "+14155552671", "--body", "hi"],
        env={**os.environ, **stack_env, "SMSD_REDIS_URL": _tls_url(front, password=wrong)},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 3
    assert "error: Redis refused the password in SMSD_REDIS_URL" in output
    assert "Traceback" not in output
    assert wrong not in output
    assert "14155552671" not in output


# --- nothing secret leaves ------------------------------------------------------------------


def test_a_provider_echoing_the_number_and_its_token_leaks_neither(
    worker_factory: WorkerFactory,
    dispatcher: Dispatcher,
    simulator: RunningSimulator,
    stack_env: dict[str, str],
    api_factory: ApiFactory,
) -> None:
    """A provider whose error text repeats the full number and our API token: the status, the
    API's dead letters, `smsdispatch dlq list --json` and `dlq show`, and the worker's log show
    neither."""
    token = stack_env["SMSD_PROVIDERS__SINCH__API_TOKEN"]
    to = numbers(1, offset=4321)[0]
    echo = {
        "code": "syntax_invalid_parameter_format",
        "text": f"Invalid recipient {to} ({to[1:]}) for token {token}",
    }
    simulator.state.script(to, [ScriptedAnswer(status=400, body=echo)])
    worker = worker_factory()
    message_id = dispatcher.send_sms(to, "echo me", providers=["sinch"])
    wait_for(lambda: dispatcher.get_status(message_id)["state"] == "failed", timeout_s=20)

    api = api_factory()
    exports: dict[str, Any] = {
        "status": dispatcher.get_status(message_id),
        "api": call("GET", f"{api.url}/v1/dead-letters")[1],
        "api status": call("GET", f"{api.url}/v1/messages/{message_id}")[1],
    }
    for args in (["dlq", "list", "--json"], ["dlq", "show", message_id]):
        done = subprocess.run(
            [sys.executable, "-m", "dispatcher", *args],
            env={**os.environ, **stack_env},
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
            check=True,
        )
        exports[" ".join(args)] = done.stdout + done.stderr
    exports["worker log"] = worker.log()
    assert "Invalid recipient" in json.dumps(exports["status"])  # the text itself is kept
    for where, shown in exports.items():
        text = shown if isinstance(shown, str) else json.dumps(shown)
        assert to[1:] not in text, where
        assert to[-7:] not in text.replace("*", ""), where
        assert token not in text, where
        assert test_secret("SMSD_PROVIDERS__SINCH__API_TOKEN") not in text, where


# --- status callbacks stay out of the operator's network ------------------------------------


def test_callbacks_never_reach_a_private_address_unless_allowed(web_app: WebApp) -> None:
    """The worker's callback session does not connect to a name that resolves to loopback, nor
    to a loopback literal; allowed (the local stack), the same POST goes through."""
    port = urllib.parse.urlsplit(web_app.url).port
    by_name = f"http://localhost:{port}/sms-status"
    posts: list[tuple[str, bytes, dict[str, str]]] = [
        (by_name, b"{}", {}),
        (web_app.url, b"{}", {}),
    ]
    guarded = SendBridge(connections_per_provider=2, callbacks_public_only=True)
    try:
        assert guarded.post_many(posts, timeout_s=5) == [None, None]
    finally:
        guarded.close()
    assert web_app.calls == 0
    allowed = SendBridge(connections_per_provider=2)
    try:
        assert allowed.post_many(posts, timeout_s=5) == [204, 204]
    finally:
        allowed.close()
    assert web_app.calls == 2
