"""Erasing a phone number (a person's right to be forgotten), for the Python API, ``POST
/v1/erasures`` and ``smsdispatch erase``.

Every message record of the number (its attempts, its dead letter, its idempotency key), every
inbound text it sent, and every index entry pointing at them are deleted; its opt-out entries are
kept, without the number, so that it stays opted out. A message of the number still waiting is
deleted with the rest and so never sent (its job, if one is queued, finds no record).
"""

from __future__ import annotations

from typing import Any

from dispatcher.config.settings import Settings
from dispatcher.core.masking import mask_number
from dispatcher.intake.validation import validate_number
from dispatcher.logs import get_logger
from dispatcher.store.connection import RedisClient
from dispatcher.store.erasure import erase_records_of
from dispatcher.store.opt_outs import OptOutList

__all__ = ["erase_number"]


def erase_number(settings: Settings, client: RedisClient, number: object) -> dict[str, Any]:
    """Erase ``number`` (checked as a destination is); how many of each kind went:
    ``{"messages", "dead_letters", "idempotency_keys", "inbound", "opt_outs_kept"}`` (the
    entries kept as a digest only)."""
    e164 = validate_number(number, settings.messages.default_region)
    erased = erase_records_of(client, e164)
    kept = OptOutList(client).erase_number(e164)
    answer = {
        "messages": erased.messages,
        "dead_letters": erased.dead_letters,
        "idempotency_keys": erased.idempotency_keys,
        "inbound": erased.inbound,
        "opt_outs_kept": kept,
    }
    get_logger(to=mask_number(e164)).info("sms.number_erased", **answer)
    return answer
