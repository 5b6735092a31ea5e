"""Each adapter's request shape, delivery-report parsing and signatures; the adapter registry."""

from __future__ import annotations

import base64
import json
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from dispatcher.config.provider_adapters import build_providers
from dispatcher.config.settings import SECRET_SETTINGS, load_settings
from dispatcher.errors import ConfigError
from providers.adapters.cecula import CeculaProvider, CeculaSettings
from providers.adapters.gosms import GoSmsProvider, GoSmsSettings
from providers.adapters.sinch import (
    SinchProvider,
    SinchSettings,
    callback_signature,
    verify_callback,
)
from providers.adapters.twilio import TwilioProvider, TwilioSettings, request_signature
from providers.adapters.twilio import verify_callback as verify_twilio
from providers.adapters.vonage import VonageProvider, VonageSettings
from providers.adapters.yellowpush import YellowPushProvider, YellowPushSettings
from providers.base import HttpAnswer, InboundReport, OutboundSms, Provider, ReferenceSearch
from providers.outcome import OutcomeKind
from providers.registry import ENTRY_POINT_GROUP, build_provider, known_kinds


def sms(*, encoding: str = "GSM-7", valid_until_ms: int | None = None) -> OutboundSms:
    return OutboundSms(
        message_id="01M88N7QGQ5MDYC92HSW6W7V2X",
        to_e164="+2348181234567",
        body="hello" if encoding == "GSM-7" else "привет",
        sender=None,
        encoding=encoding,
        segments=1,
        valid_until_ms=valid_until_ms,
    )


# --- request shapes ------------------------------------------------------------------------


def test_gosms_request() -> None:
    """GoSMS: bearer token, JSON, digits without +, no sender field."""
    provider = GoSmsProvider(GoSmsSettings(name="g", api_token="tok", device_id="dev1"))
    request = provider.build_send(sms())
    assert request.url == "https://api.gosms.ru/v1/sms/send"
    assert request.headers["Authorization"] == "Bearer tok"
    assert request.json == {
        "message": "hello",
        "phone_number": "2348181234567",
        "device_id": "dev1",
    }


def test_cecula_request() -> None:
    """Cecula: bearer API key, JSON recipients without +, the configured sender."""
    provider = CeculaProvider(CeculaSettings(name="c", api_key="key", sender="Acme"))
    request = provider.build_send(sms())
    assert request.url == "https://app.cecula.com/api/sms/a2p/send"
    assert request.headers["Authorization"] == "Bearer key"
    assert request.json == {"recipients": ["2348181234567"], "text": "hello", "sender": "Acme"}


def test_yellowpush_asks_for_token_then_account_then_sends_with_them() -> None:
    """YellowPush: /auth then /account with Basic auth, then a form send with the bearer token."""
    provider = YellowPushProvider(YellowPushSettings(name="y", username="u", password="p"))
    basic = "Basic " + base64.b64encode(b"u:p").decode()
    first = provider.auth_request()
    assert first is not None
    assert (first.url, first.headers["Authorization"]) == (
        "https://api.identidadsms.net/rest/auth",
        basic,
    )
    assert provider.read_auth_answer(HttpAnswer(200, {}, b'{"token": "T1"}')) is None
    second = provider.auth_request()
    assert second is not None
    assert second.url.endswith("/account")
    assert provider.read_auth_answer(HttpAnswer(200, {}, b'[{"id": 42}]')) is None
    assert provider.auth_request() is None
    request = provider.build_send(sms())
    assert request.headers["Authorization"] == "Bearer T1"
    assert request.form == {"acc_id": "42", "to": "2348181234567", "message": "hello"}
    assert "T1" in provider.redacted_secrets()
    provider.forget_auth()
    assert provider.auth_request() is not None


def test_yellowpush_sends_that_start_together_each_fetch_the_session_and_all_go() -> None:
    """Two sends ask for /auth at once; the second token answer comes after the first is
    cached, and the account answers after both: each is read for what it is, none fails."""
    provider = YellowPushProvider(YellowPushSettings(name="y", username="u", password="p"))
    assert provider.auth_request() is not None  # the first send asks
    assert provider.auth_request() is not None  # and the second, before any answer
    assert provider.read_auth_answer(HttpAnswer(200, {}, b'{"token": "T1"}')) is None
    assert provider.read_auth_answer(HttpAnswer(200, {}, b'{"token": "T2"}')) is None
    assert provider.read_auth_answer(HttpAnswer(200, {}, b'[{"id": 42}]')) is None
    assert provider.read_auth_answer(HttpAnswer(200, {}, b'[{"id": 42}]')) is None
    assert provider.auth_request() is None
    unreadable = provider.read_auth_answer(HttpAnswer(200, {}, b"<html>"))
    assert unreadable is not None
    assert unreadable.kind is OutcomeKind.RETRYABLE


def test_yellowpush_refused_credentials_are_a_provider_error() -> None:
    """A 401 to /auth is about our account: the send is not tried and another provider may be."""
    provider = YellowPushProvider(YellowPushSettings(name="y", username="u", password="p"))
    verdict = provider.read_auth_answer(HttpAnswer(401, {}, b"Unauthorized client"))
    assert verdict is not None
    assert verdict.kind is OutcomeKind.PROVIDER_ERROR


def test_twilio_request() -> None:
    """Twilio: Basic auth, form with To in E.164, From, and a ValidityPeriod within 36,000 s."""
    provider = TwilioProvider(
        TwilioSettings(name="t", account_sid="AC1", auth_token="tok", sender="+15005550006")
    )
    request = provider.build_send(sms(valid_until_ms=int(time.time() * 1000) + 100_000_000))
    assert request.url == "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"AC1:tok").decode()
    assert request.form is not None
    assert request.form["To"] == "+2348181234567"
    assert request.form["From"] == "+15005550006"
    assert request.form["ValidityPeriod"] == "36000"


def test_vonage_request() -> None:
    """Vonage: form with key and secret, digits without +, unicode type, our id as client-ref."""
    provider = VonageProvider(VonageSettings(name="v", api_key="k", api_secret="s", sender="Acme"))
    request = provider.build_send(sms(encoding="UCS-2"))
    assert request.url == "https://rest.nexmo.com/sms/json"
    assert request.form is not None
    assert request.form["to"] == "2348181234567"
    assert request.form["type"] == "unicode"
    assert request.form["client-ref"] == "01M88N7QGQ5MDYC92HSW6W7V2X"
    assert (request.form["api_key"], request.form["api_secret"]) == ("k", "s")
    assert provider.redacted_secrets() == ("s",)


# --- delivery reports ----------------------------------------------------------------------

SINCH = SinchProvider(SinchSettings(name="sinch", service_plan_id="p", api_token="t"))


def test_sinch_batch_summary_report_gives_one_report_per_recipient() -> None:
    """A delivery_report_sms names recipients per status; each becomes its own report."""
    body = {
        "type": "delivery_report_sms",
        "batch_id": "B1",
        "client_reference": "01M88",
        "statuses": [
            {"code": 0, "status": "Delivered", "count": 2, "recipients": ["+1", "+2"]},
            {"code": 402, "status": "Failed", "count": 1, "recipients": ["+3"]},
            {"code": 400, "status": "Queued", "count": 1, "recipients": ["+4"]},
        ],
    }
    reports = SINCH.read_delivery_report(InboundReport(json.dumps(body).encode()))
    assert [(r.recipient, r.status) for r in reports] == [
        ("+1", "delivered"),
        ("+2", "delivered"),
        ("+3", "undelivered"),
        ("+4", "pending"),
    ]
    assert reports[2].reason == "Failed (code 402)"
    assert {r.client_reference for r in reports} == {"01M88"}


def test_sinch_signature_round_trip_and_tamper() -> None:
    """A signed callback verifies with the secret; a changed body or secret does not."""
    body = b'{"type": "recipient_delivery_report_sms"}'
    headers = {
        "x-sinch-webhook-signature": callback_signature("s3cret", body, "n1", "1700000000"),
        "x-sinch-webhook-signature-nonce": "n1",
        "x-sinch-webhook-signature-timestamp": "1700000000",
    }
    assert verify_callback("s3cret", InboundReport(body, headers=headers))
    assert not verify_callback("other", InboundReport(body, headers=headers))
    assert not verify_callback("s3cret", InboundReport(body + b" ", headers=headers))
    assert not verify_callback("s3cret", InboundReport(body))


def test_twilio_signature_matches_the_documented_example() -> None:
    """The worked example of Twilio's "Webhooks security" page (auth token 12345)."""
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert request_signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    report = InboundReport(
        urlencode(params).encode(),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": "0/KCTR6DLpKmkAf8muzZqo1nDgQ="},
        url=url,
    )
    assert verify_twilio("12345", report)
    tampered = InboundReport(
        report.body.replace(b"1234&", b"9999&"), headers=report.headers, url=url
    )
    assert not verify_twilio("12345", tampered)


@pytest.mark.parametrize(
    ("provider", "report", "expected"),
    [
        (
            TwilioProvider(TwilioSettings(name="t", account_sid="A", auth_token="x", sender="+1")),
            InboundReport(b"MessageSid=SM1&MessageStatus=undelivered&ErrorCode=30003"),
            ("undelivered", "SM1", "undelivered (error 30003)"),
        ),
        (
            TwilioProvider(TwilioSettings(name="t", account_sid="A", auth_token="x", sender="+1")),
            InboundReport(b"MessageSid=SM1&MessageStatus=sent"),
            ("pending", "SM1", None),
        ),
        (
            VonageProvider(VonageSettings(name="v", api_key="k", api_secret="s")),
            InboundReport(b"", query={"messageId": "0A1", "status": "expired", "err-code": "1"}),
            ("undelivered", "0A1", "expired (err-code 1)"),
        ),
        (
            CeculaProvider(CeculaSettings(name="c", api_key="k")),
            InboundReport(b'{"messageId": "u-1", "status": "DELIVRD"}'),
            ("delivered", "u-1", None),
        ),
        (
            GoSmsProvider(GoSmsSettings(name="g", api_token="t")),
            InboundReport(
                '{"id": "abc", "status": 5, "message_status": "Ошибка доставки"}'.encode()
            ),
            ("undelivered", "abc", "Ошибка доставки"),
        ),
        (
            YellowPushProvider(YellowPushSettings(name="y", username="u", password="p")),
            InboundReport(b'[{"client_message_id": "m1", "status": "DELIVERED"}]'),
            ("delivered", "m1", None),
        ),
    ],
)
def test_delivery_reports(
    provider: Provider, report: InboundReport, expected: tuple[str, str, str | None]
) -> None:
    """Each provider's report format is read into delivered / undelivered / pending."""
    (found,) = provider.read_delivery_report(report)
    assert (found.status, found.provider_message_id, found.reason) == expected


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'{"status": 42}', b"\xff"])
@pytest.mark.parametrize(
    "provider",
    [
        SINCH,
        CeculaProvider(CeculaSettings(name="c", api_key="k")),
        GoSmsProvider(GoSmsSettings(name="g", api_token="t")),
        YellowPushProvider(YellowPushSettings(name="y", username="u", password="p")),
        VonageProvider(VonageSettings(name="v", api_key="k", api_secret="s")),
        TwilioProvider(TwilioSettings(name="t", account_sid="A", auth_token="x", sender="+1")),
    ],
)
def test_garbage_is_not_a_report(provider: Provider, body: bytes) -> None:
    """A body that is not the provider's report gives no report (and no exception)."""
    assert provider.read_delivery_report(InboundReport(body)) == []


# --- registry ------------------------------------------------------------------------------


def test_builtin_kinds() -> None:
    """The six documented providers are built in."""
    assert {"sinch", "gosms", "cecula", "yellowpush", "twilio", "vonage"} <= set(known_kinds())


@pytest.mark.parametrize(
    ("kind", "options", "setting"),
    [
        ("gosms", {}, "api_token"),
        ("cecula", {"sender": "A"}, "api_key"),
        ("cecula", {"api_key": "k"}, "sender"),
        ("yellowpush", {"password": "p"}, "username"),
        ("twilio", {"account_sid": "A", "auth_token": "t"}, "sender"),
        ("vonage", {"api_key": "k", "sender": "A"}, "api_secret"),
    ],
)
def test_missing_setting_stops_start_up_naming_it(
    kind: str,
    options: dict[str, str],
    setting: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A provider without a setting it needs stops start-up with the setting and its variable."""
    lines = [f'{key} = "{value}"' for key, value in options.items() if key not in SECRET_SETTINGS]
    for key, value in options.items():
        if key in SECRET_SETTINGS:
            monkeypatch.setenv(f"SMSD_PROVIDERS__MAIN__{key.upper()}", value)
    config = tmp_path / "smsd.toml"
    config.write_text(
        '[routes]\ndefault = ["main"]\n[providers.main]\n'
        f'kind = "{kind}"\n' + "\n".join(lines) + "\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SMSD_CONFIG", str(config))
    with pytest.raises(ConfigError) as caught:
        build_providers(load_settings())
    assert caught.value.setting == f"providers.main.{setting}"
    assert caught.value.env_var == f"SMSD_PROVIDERS__MAIN__{setting.upper()}"


def _install_plug_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, module_source: str
) -> None:
    """An installed distribution ``<kind>-sms`` whose module ``<kind>_sms`` registers the
    factory ``build`` as adapter kind ``kind`` in ``sms_dispatch.providers``."""
    module = f"{kind}_sms"
    (tmp_path / f"{module}.py").write_text(module_source, encoding="utf-8")
    dist = tmp_path / f"{module}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {kind}-sms\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{kind} = {module}:build\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)


def test_third_party_adapter_registers_through_the_entry_point_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An installed distribution naming a factory in ``sms_dispatch.providers`` is a new kind."""
    _install_plug_in(
        tmp_path,
        monkeypatch,
        "acme",
        "from providers.adapters.gosms import GoSmsProvider, GoSmsSettings\n"
        "def build(name, options):\n"
        "    return GoSmsProvider(GoSmsSettings(name=name, api_token=options['api_token']))\n",
    )
    assert "acme" in known_kinds()
    provider = build_provider("acme-main", "acme", {"api_token": "tok"})
    assert provider.name == "acme-main"


def test_a_third_party_adapter_lacking_a_part_of_the_protocol_is_refused_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An adapter of another distribution without the protocol's flags stops start-up with the
    provider's kind setting and the parts it lacks, instead of failing at its first send."""
    _install_plug_in(
        tmp_path,
        monkeypatch,
        "bare",
        "class Bare:\n"
        "    name = 'main'\n"
        "    timeout_s = 5.0\n"
        "    def build_send(self, sms): ...\n"
        "    def read_send_answer(self, answer): ...\n"
        "    def read_delivery_report(self, report): return []\n"
        "    def redacted_secrets(self): return ()\n"
        "def build(name, options):\n"
        "    return Bare()\n",
    )
    config = tmp_path / "smsd.toml"
    config.write_text(
        '[routes]\ndefault = ["main"]\n[providers.main]\nkind = "bare"\n', encoding="utf-8"
    )
    monkeypatch.setenv("SMSD_CONFIG", str(config))
    with pytest.raises(ConfigError) as caught:
        build_providers(load_settings())
    assert caught.value.setting == "providers.main.kind"
    assert "counts_segments, reports_carry_reference" in caught.value.reason


def test_sinch_is_asked_by_our_reference_from_before_the_message_was_made() -> None:
    """List Batches by client_reference, with a start_date an hour before the message's
    creation (Sinch's default is the last 24 h only); a batch with our reference is found."""
    request = SINCH.build_reference_query("01MSG", since_ms=1_764_000_000_000)
    url = urlsplit(request.url)
    assert request.method == "GET"
    assert url.path == "/xms/v1/p/batches"
    query = parse_qs(url.query)
    assert query["client_reference"] == ["01MSG"]
    assert query["start_date"] == ["2025-11-24T15:00:00.000Z"]  # an hour before 16:00
    assert request.headers["Authorization"] == "Bearer t"
    found = SINCH.read_reference_answer(
        HttpAnswer(
            200, {}, b'{"count": 1, "batches": [{"id": "B1", "client_reference": "01MSG"}]}'
        ),
        "01MSG",
    )
    assert found == ReferenceSearch(True, "B1")


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, b'{"count": 0, "page": 0, "page_size": 10, "batches": []}', ReferenceSearch(False)),
        (
            200,
            b'{"batches": [{"id": "B9", "client_reference": "another"}]}',
            ReferenceSearch(False),
        ),
        (200, b'{"batches": [{"client_reference": "01MSG"}]}', ReferenceSearch(False)),
        (200, b"not json", None),
        (200, b'{"count": 0}', None),
        (503, b"", None),
        (401, b"Unauthorized", None),
    ],
)
def test_sinch_search_answers(status: int, body: bytes, expected: ReferenceSearch | None) -> None:
    """Only a batch carrying our reference and an id is found; an answer without a batch list
    (an error, a bad body) says nothing, which is not the same as not found."""
    assert SINCH.read_reference_answer(HttpAnswer(status, {}, body), "01MSG") == expected


def _sinch_report(status: str, code: int) -> bytes:
    document = {"type": "recipient_delivery_report_sms", "batch_id": "B", "status": status}
    return json.dumps({**document, "code": code}).encode()


TWILIO_REPORTS = TwilioProvider(
    TwilioSettings(name="t", account_sid="A", auth_token="x", sender="+1")
)
VONAGE_REPORTS = VonageProvider(VonageSettings(name="v", api_key="k", api_secret="s"))


@pytest.mark.parametrize(
    ("provider", "body", "temporary"),
    [
        (SINCH, _sinch_report("Failed", 404), True),
        (SINCH, _sinch_report("Failed", 406), True),
        (SINCH, _sinch_report("Failed", 402), False),
        (SINCH, _sinch_report("Delivered", 0), False),
        (TWILIO_REPORTS, b"MessageSid=SM1&MessageStatus=undelivered&ErrorCode=30003", True),
        (TWILIO_REPORTS, b"MessageSid=SM1&MessageStatus=undelivered&ErrorCode=30008", True),
        (TWILIO_REPORTS, b"MessageSid=SM1&MessageStatus=undelivered&ErrorCode=30005", False),
        (TWILIO_REPORTS, b"MessageSid=SM1&MessageStatus=failed&ErrorCode=30006", False),
        (VONAGE_REPORTS, b'{"messageId": "M1", "status": "failed", "err-code": "2"}', True),
        (VONAGE_REPORTS, b'{"messageId": "M1", "status": "expired", "err-code": "8"}', True),
        (VONAGE_REPORTS, b'{"messageId": "M1", "status": "failed", "err-code": "9"}', False),
        (VONAGE_REPORTS, b'{"messageId": "M1", "status": "rejected", "err-code": "4"}', False),
    ],
)
def test_which_undelivered_reasons_are_passing(
    provider: Provider, body: bytes, temporary: bool
) -> None:
    """Each provider's documented passing failures (the handset unreachable for now, a network
    error) are temporary; an unknown, barred or unroutable number is not."""
    [report] = provider.read_delivery_report(InboundReport(body))
    assert report.temporary is temporary
