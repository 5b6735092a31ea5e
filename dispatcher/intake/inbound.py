"""Inbound texts (mobile-originated) posted by providers to ``/v1/inbound/{provider}``.

A post is checked with the proof the provider's delivery reports use: Twilio's
``X-Twilio-Signature``, Sinch's HMAC headers (with ``webhook_secret`` set); the others' inbound
URL carries ``delivery_reports.secret`` as ``?token=``. Each text in it is recorded once (a
provider posting it again is answered the same and changes nothing), counted, and forwarded to
``inbound.callback_url``. A text that is, whole and trimmed, one of the opt-out keywords acts on
the opt-out list: a stop word puts the sender on it (for the number it was sent to, under sender
scope), a start word takes it off, a help word does neither; each may send its configured reply,
which the opt-out list never blocks. Providers whose references document no inbound format
(GoSMS, Cecula, YellowPush) are refused with 404 ``no_inbound_format``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from dispatcher.config.settings import Settings
from dispatcher.core.clock import now_ms
from dispatcher.core.ids import new_message_id
from dispatcher.core.inbound_message import InboundMessage
from dispatcher.core.masking import mask_number
from dispatcher.core.opt_outs import KeywordAction, keyword_action
from dispatcher.errors import DispatchError
from dispatcher.intake.delivery_reports import ReportAnswer, check_token, refusal
from dispatcher.intake.opt_outs import OptOuts
from dispatcher.logs import get_logger
from dispatcher.store.inbound_messages import InboundStore
from providers.base import InboundMessages, InboundReport, InboundSms, Provider

__all__ = ["PostAnswer", "Reply", "receive_inbound"]

# Sends a keyword's reply: (to, text, sender, provider it came in through).
Reply = Callable[[str, str, str, str], None]


@dataclass(frozen=True, slots=True)
class PostAnswer:
    """What the API answers the provider: a JSON refusal, or the provider's own answer."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] | None = None


def _refusal(answer: ReportAnswer) -> PostAnswer:
    return PostAnswer(answer.status, json.dumps(answer.body).encode(), headers=answer.headers)


def _error(status: int, code: str, message: str) -> PostAnswer:
    return _refusal(refusal(status, code, message))


def receive_inbound(
    provider: Provider,
    post: InboundReport,
    *,
    settings: Settings,
    store: InboundStore,
    opt_outs: OptOuts,
    reply: Reply,
) -> PostAnswer:
    """Check one inbound post, record and act on every text in it; what to answer."""
    if not isinstance(provider, InboundMessages):
        return _error(
            404,
            "no_inbound_format",
            f"the {provider.name} references document no inbound format",
        )
    signed = provider.verify_inbound(post)
    if signed is False:
        return _error(401, "bad_signature", f"the {provider.name} inbound signature is not valid")
    if signed is None:
        refused = check_token(post, settings.delivery_reports.secret)
        if refused is not None:
            return _refusal(refused)
    texts = provider.read_inbound(post)
    if not texts:
        return _error(422, "not_inbound", f"the body is not a {provider.name} inbound text")
    for text in texts:
        _take(provider.name, text, settings=settings, store=store, opt_outs=opt_outs, reply=reply)
    answer = provider.inbound_answer()
    return PostAnswer(answer.status, answer.body, answer.content_type)


def _take(
    provider: str,
    text: InboundSms,
    *,
    settings: Settings,
    store: InboundStore,
    opt_outs: OptOuts,
    reply: Reply,
) -> None:
    """Record one text and, the first time it comes, act on its keyword."""
    rules = settings.opt_out
    action = None
    if text.part is None:  # a keyword is a text of its own, never a part of a long one
        action = keyword_action(
            text.text,
            stop=rules.stop_keywords,
            start=rules.start_keywords,
            help_words=rules.help_keywords,
        )
    now = now_ms()
    message = InboundMessage(
        id=new_message_id(now),
        provider=provider,
        provider_message_id=text.provider_message_id,
        from_number=text.from_number,
        to=text.to,
        received_at_ms=now,
        text=text.text,
        keyword=action or "",
        part=f"{text.part[0]}:{text.part[1]}/{text.part[2]}" if text.part else "",
    )
    recorded = store.record(message, forward=bool(settings.inbound.callback_url))
    log = get_logger(inbound_id=recorded.inbound_id, provider=provider)
    log.info(
        "sms.inbound" if recorded.new else "sms.inbound_repeat",
        **{"from": mask_number(text.from_number)},
        keyword=action,
        length=len(text.text),
    )
    if recorded.new and action is not None:
        _act(action, message, settings=settings, opt_outs=opt_outs, reply=reply)


def _act(
    action: KeywordAction,
    message: InboundMessage,
    *,
    settings: Settings,
    opt_outs: OptOuts,
    reply: Reply,
) -> None:
    """Put the sender on the opt-out list or take it off, and send the keyword's reply."""
    rules = settings.opt_out
    sender = message.to if rules.scope == "sender" else None
    log = get_logger(inbound_id=message.id, provider=message.provider)
    try:
        if action == "stop":
            word = " ".join((message.text or "").split()).upper()
            opt_outs.add(message.from_number, sender, source="keyword", keyword=word)
        elif action == "start":
            opt_outs.remove(message.from_number, sender, source="keyword")
    except DispatchError as exc:  # a sender the list cannot hold (not a number we can check)
        log.warning("sms.inbound_keyword_not_applied", keyword=action, error=str(exc))
        return
    text = {"stop": rules.stop_reply, "start": rules.start_reply, "help": rules.help_reply}[action]
    if not text:
        return
    try:
        reply(message.from_number, text, message.to, message.provider)
    except DispatchError as exc:
        log.warning("sms.inbound_reply_not_sent", keyword=action, error=str(exc))
