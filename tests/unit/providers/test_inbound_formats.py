"""Each adapter reads its provider's documented inbound format, and only that; the signed ones
check their signature over exactly what was posted."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from providers.adapters.sinch import SinchProvider, SinchSettings, callback_signature
from providers.adapters.twilio import TwilioProvider, TwilioSettings, request_signature
from providers.adapters.vonage import VonageProvider, VonageSettings
from providers.base import InboundMessages, InboundReport, InboundSms, e164_of
from providers.registry import build_provider

SINCH = SinchProvider(
    SinchSettings(name="sinch", service_plan_id="p", api_token="t", webhook_secret="whs")
)
TWILIO = TwilioProvider(
    TwilioSettings(name="twilio", account_sid="AC1", auth_token="tok", sender="+15005550006")
)
VONAGE = VonageProvider(VonageSettings(name="vonage", api_key="k", api_secret="s"))
URL = "http://127.0.0.1:8080/v1/inbound/twilio"


def test_sinch_mo_text_is_read_and_its_signature_checked() -> None:
    body = json.dumps(
        {
            "type": "mo_text",
            "id": "01W4FFL35P4NC4K35SMSBATCH8",
            "from": "12015555555",
            "to": "12017777777",
            "body": "STOP",
            "received_at": "2024-06-06T07:52:37.386Z",
        }
    ).encode()
    headers = {
        "x-sinch-webhook-signature": callback_signature("whs", body, "n1", "1700000000"),
        "x-sinch-webhook-signature-nonce": "n1",
        "x-sinch-webhook-signature-timestamp": "1700000000",
    }
    post = InboundReport(body, headers=headers)
    assert SINCH.read_inbound(post) == [
        InboundSms(
            "01W4FFL35P4NC4K35SMSBATCH8", "+12015555555", "+12017777777", "STOP", 1717660357386
        )
    ]
    assert SINCH.verify_inbound(post) is True
    assert SINCH.verify_inbound(InboundReport(body + b" ", headers=headers)) is False
    unsigned = SinchProvider(SinchSettings(name="s", service_plan_id="p", api_token="t"))
    assert unsigned.verify_inbound(post) is None  # then the URL's token is the proof


def test_sinch_reads_no_binary_text_and_no_delivery_report() -> None:
    for document in (
        {"type": "mo_binary", "id": "1", "from": "1", "to": "2", "body": "AAE=", "udh": "05"},
        {"type": "recipient_delivery_report_sms", "batch_id": "1", "status": "Delivered"},
    ):
        assert SINCH.read_inbound(InboundReport(json.dumps(document).encode())) == []


def test_twilio_incoming_message_is_read_signed_with_every_parameter_blank_ones_too() -> None:
    params = {"MessageSid": "SM1", "From": "+14155552671", "To": "+15005550006", "Body": "Hi"}
    params["ToCity"] = ""
    body = urlencode(params).encode()
    signature = request_signature("tok", URL, params)
    post = InboundReport(
        body,
        "application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": signature},
        url=URL,
    )
    assert TWILIO.read_inbound(post) == [InboundSms("SM1", "+14155552671", "+15005550006", "Hi")]
    assert TWILIO.verify_inbound(post) is True
    assert (
        TWILIO.verify_inbound(InboundReport(body, url=URL + "?x=1", headers=post.headers)) is False
    )
    assert TWILIO.inbound_answer().body == b"<Response/>"
    status = urlencode({"MessageSid": "SM1", "MessageStatus": "delivered", "To": "+1"})
    assert TWILIO.read_inbound(InboundReport(status.encode())) == []


def test_twilio_checks_the_url_it_is_told_it_called() -> None:
    behind_proxy = TwilioProvider(
        TwilioSettings(
            name="twilio",
            account_sid="AC1",
            auth_token="tok",
            sender="+1",
            inbound_url="https://sms.example.com/v1/inbound/twilio",
        )
    )
    params = {"MessageSid": "SM1", "From": "+14155552671", "To": "+15005550006", "Body": "Hi"}
    signature = request_signature("tok", "https://sms.example.com/v1/inbound/twilio", params)
    post = InboundReport(
        urlencode(params).encode(), headers={"X-Twilio-Signature": signature}, url=URL
    )
    assert behind_proxy.verify_inbound(post) is True
    assert TWILIO.verify_inbound(post) is False


def test_vonage_inbound_is_read_as_json_or_a_form_and_a_part_is_marked() -> None:
    fields = {"msisdn": "447700900001", "to": "447700900000", "messageId": "0A1", "text": "Hi"}
    expected = InboundSms("0A1", "+447700900001", "+447700900000", "Hi")
    assert VONAGE.read_inbound(InboundReport(json.dumps(fields).encode())) == [expected]
    form = InboundReport(urlencode(fields).encode(), "application/x-www-form-urlencoded")
    assert VONAGE.read_inbound(form) == [expected]
    part = {**fields, "concat": "true", "concat-ref": "7", "concat-part": "2", "concat-total": "3"}
    (read,) = VONAGE.read_inbound(InboundReport(json.dumps(part).encode()))
    assert read.part == ("7", 2, 3)
    binary = {**fields, "type": "binary"}
    assert VONAGE.read_inbound(InboundReport(json.dumps(binary).encode())) == []
    assert VONAGE.verify_inbound(form) is None


def test_providers_without_a_documented_inbound_format_do_not_claim_one() -> None:
    for kind, options in (
        ("gosms", {"api_token": "t"}),
        ("cecula", {"api_key": "k", "sender": "Acme"}),
        ("yellowpush", {"username": "u", "password": "p", "sender": "Acme"}),
    ):
        assert not isinstance(build_provider(kind, kind, options), InboundMessages), kind
    assert all(isinstance(p, InboundMessages) for p in (SINCH, TWILIO, VONAGE))


def test_numbers_posted_without_their_plus_become_e164_short_codes_stay() -> None:
    assert e164_of("447700900001") == "+447700900001"
    assert e164_of("+447700900001") == "+447700900001"
    assert e164_of("12345") == "12345"
    assert e164_of("Acme") == "Acme"
