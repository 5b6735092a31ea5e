"""The message model and its validation at the door.

:func:`validate_message` checks every field, collects every problem and raises one
:class:`~dispatcher.errors.InvalidMessage` naming each bad field, or returns a :class:`NewMessage`
with the destination in E.164 and the body measured as it will be sent (smart-encoded when
``messages.smart_encoding`` is on: :mod:`dispatcher.core.smart_encoding`). Nothing here does I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import phonenumbers

from dispatcher.config.settings import MessageSettings
from dispatcher.core.addresses import callback_host_problem
from dispatcher.core.categories import MESSAGE_CATEGORIES, default_category
from dispatcher.core.clock import now_ms as clock_now_ms
from dispatcher.core.countries import UNKNOWN_REGION, region_of_parsed
from dispatcher.core.encoding import measure
from dispatcher.core.names import PRIORITY_QUEUES
from dispatcher.core.smart_encoding import smart_encode
from dispatcher.errors import InvalidMessage

__all__ = [
    "NewMessage",
    "validate_campaign",
    "validate_message",
    "validate_number",
    "validate_sender",
]

_ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
_NUMERIC_SENDER = re.compile(r"^\+?[0-9]{3,15}$")
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_MAX_METADATA_BYTES = 4096
_MAX_METADATA_KEYS = 32
_MAX_URL_LENGTH = 2048


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message that passed validation, ready to be recorded."""

    to: str  # E.164
    body: str  # as it is sent: smart-encoded when smart_encoded (encoding, segments: of this)
    sender: str | None
    priority: str
    validity_s: int
    encoding: str
    segments: int
    providers: tuple[str, ...] = ()
    callback_url: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    category: str = "transactional"
    send_at_ms: int | None = None  # scheduled: claimed no earlier than this (epoch ms)
    campaign: str | None = None  # a tag the messages of one campaign share (cancel them all)
    smart_encoded: bool = False  # typographic characters were replaced to send it as GSM-7
    region: str = "ZZ"  # the ISO 3166 region of ``to`` (dispatcher.core.countries)

    def content_fingerprint(self) -> str:
        """What must match for a repeated idempotency key to be the same message. A category
        its priority gives it anyway adds nothing, so keys taken before categories existed
        still match the same content."""
        parts: list[Any] = [
            self.to,
            self.body,
            self.sender,
            self.priority,
            list(self.providers),
            self.callback_url,
            self.metadata,
        ]
        if self.category != default_category(self.priority):
            parts.append(self.category)
        if self.send_at_ms is not None or self.campaign is not None:
            parts.append({"send_at_ms": self.send_at_ms, "campaign": self.campaign})
        return json.dumps(parts, sort_keys=True, separators=(",", ":"))


def validate_message(
    rules: MessageSettings,
    *,
    to: object,
    body: object,
    sender: object = None,
    idempotency_key: object = None,
    priority: object = "normal",
    validity: object = None,
    providers: object = None,
    callback_url: object = None,
    metadata: object = None,
    category: object = None,
    send_at: object = None,
    campaign: object = None,
    known_providers: Collection[str] = (),
    allow_private_callbacks: bool = False,
    now_ms: int | None = None,
) -> NewMessage:
    """Validate a message (``now_ms``: for ``send_at``); InvalidMessage names each bad field."""
    errors: dict[str, str] = {}
    destination = _take(errors, "to", _destination(to, rules.default_region))
    measured_body = _take(errors, "body", _body(body, rules.max_segments, rules.smart_encoding))
    clean_sender = _take(errors, "sender", _sender(sender, rules.default_sender))
    clean_priority = _take(errors, "priority", _priority(priority))
    validity_s = _take(errors, "validity", _validity(validity, rules))
    clean_providers = _take(errors, "providers", _providers(providers, known_providers))
    clean_callback = _take(
        errors, "callback_url", _callback_url(callback_url, allow_private_callbacks)
    )
    clean_metadata = _take(errors, "metadata", _metadata(metadata))
    clean_key = _take(errors, "idempotency_key", _idempotency_key(idempotency_key))
    clean_category = _take(errors, "category", _category(category, clean_priority))
    send_at_ms, clean_campaign = _scheduling(errors, rules, send_at, campaign, now_ms)

    if errors:
        raise InvalidMessage(errors)
    assert destination is not None
    assert measured_body is not None
    assert clean_priority is not None
    assert validity_s is not None
    (e164, region), (text, encoding, segments, smart_encoded) = destination, measured_body
    return NewMessage(
        to=e164,
        region=region,
        body=text,
        sender=clean_sender,
        priority=clean_priority,
        validity_s=validity_s,
        encoding=encoding,
        segments=segments,
        providers=clean_providers or (),
        callback_url=clean_callback,
        metadata=clean_metadata or {},
        idempotency_key=clean_key,
        category=clean_category or default_category(clean_priority),
        send_at_ms=send_at_ms,
        campaign=clean_campaign,
        smart_encoded=smart_encoded,
    )


def validate_number(value: object, default_region: str | None, *, field: str = "number") -> str:
    """A phone number in E.164, or :class:`InvalidMessage` naming ``field``."""
    checked = _destination(value, default_region)
    if isinstance(checked, _Problem):
        raise InvalidMessage({field: str(checked)})
    return checked[0]


def validate_campaign(value: object, *, field: str = "campaign") -> str:
    """A campaign tag, or :class:`InvalidMessage` naming ``field``."""
    checked = _campaign(value)
    if checked is None or isinstance(checked, _Problem):
        raise InvalidMessage({field: str(checked or "is required")})
    return checked


def validate_sender(value: object, *, field: str = "sender") -> str | None:
    """A sender as a message may give it (None: none), or :class:`InvalidMessage`."""
    checked = _sender(value, None)
    if isinstance(checked, _Problem):
        raise InvalidMessage({field: str(checked)})
    return checked


class _Problem(str):
    """A reason a field is refused (a str, so it reads as the message)."""

    __slots__ = ()


_T = TypeVar("_T")


def _take(errors: dict[str, str], name: str, result: _T | _Problem) -> _T | None:
    """The checked value, or None with the field's problem noted in ``errors``."""
    if isinstance(result, _Problem):
        errors[name] = str(result)
        return None
    return result


def _destination(value: object, default_region: str | None) -> tuple[str, str] | _Problem:
    """The number in E.164 and its ISO 3166 region, or why it is refused."""
    if not isinstance(value, str) or not value.strip():
        return _Problem("is required: a phone number in E.164 form, e.g. +14155552671")
    raw = value.strip()
    if not raw.startswith("+") and not default_region:
        return _Problem(
            "is a national number; give it in E.164 form (+ and country code) "
            "or set messages.default_region"
        )
    try:
        number = phonenumbers.parse(raw, None if raw.startswith("+") else default_region)
    except phonenumbers.NumberParseException:
        return _Problem("is not a phone number")
    # What phonenumbers.is_valid_number does, keeping the region it finds on the way.
    region = region_of_parsed(number)
    if region == UNKNOWN_REGION or not phonenumbers.is_valid_number_for_region(number, region):
        return _Problem("is not a valid phone number for its country")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), region


def _body(value: object, max_segments: int, smart: bool) -> tuple[str, str, int, bool] | _Problem:
    """The body as it will be sent, its encoding and segments, and whether it was smart-encoded
    (``smart``: messages.smart_encoding); the segment limit holds for the body as sent."""
    if not isinstance(value, str):
        return _Problem("is required: the text of the message")
    if not value.strip():
        return _Problem("is empty")
    # A body longer than the longest possible message is refused before it is measured.
    if len(value) > max_segments * 160:
        return _Problem(f"has {len(value)} characters, over the limit of {max_segments} segments")
    smart_encoded = smart_encode(value) if smart else None
    text = value if smart_encoded is None else smart_encoded
    measured = measure(text)
    if measured.segments > max_segments:
        return _Problem(
            f"takes {measured.segments} {measured.encoding} segments, "
            f"over the limit of {max_segments}"
        )
    return text, measured.encoding, measured.segments, smart_encoded is not None


def _sender(value: object, default: str | None) -> str | _Problem | None:
    if value is None:
        return default
    if not isinstance(value, str):
        return _Problem("must be a string")
    if _ALPHANUMERIC_SENDER.match(value) or _NUMERIC_SENDER.match(value):
        return value
    return _Problem(
        "must be alphanumeric (letters, digits, spaces; at least one letter; at most 11) "
        "or a number of 3 to 15 digits"
    )


def _priority(value: object) -> str | _Problem:
    if isinstance(value, str) and value in PRIORITY_QUEUES:
        return value
    return _Problem(f"must be one of {', '.join(PRIORITY_QUEUES)}")


def _category(value: object, priority: str | None) -> str | _Problem:
    if value is None:
        return default_category(priority or "normal")
    if isinstance(value, str) and value in MESSAGE_CATEGORIES:
        return value
    return _Problem(f"must be one of {', '.join(MESSAGE_CATEGORIES)}")


# A send_at this little in the past (clocks that differ) sends now; further back is refused.
_SEND_AT_SLACK_MS = 300_000
_CAMPAIGN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


def _send_at(value: object, rules: MessageSettings, now_ms: int) -> int | _Problem | None:
    """When a scheduled message goes (epoch ms), or None to send now."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return _Problem(
                "must be an ISO 8601 time with its offset, e.g. 2026-12-24T09:00:00+01:00"
            )
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return _Problem("must carry its time zone (an offset or tzinfo)")
        at_ms = int(value.timestamp() * 1000)
    elif isinstance(value, int) and not isinstance(value, bool):
        at_ms = value
    else:
        return _Problem("must be a time-zone-aware datetime, epoch milliseconds or ISO 8601")
    if at_ms < now_ms - _SEND_AT_SLACK_MS:
        return _Problem("is in the past")
    if at_ms > now_ms + rules.max_schedule_s * 1000:
        return _Problem(f"is more than messages.max_schedule_s ({rules.max_schedule_s} s) ahead")
    return at_ms if at_ms > now_ms else None


def _scheduling(
    errors: dict[str, str],
    rules: MessageSettings,
    send_at: object,
    campaign: object,
    now_ms: int | None,
) -> tuple[int | None, str | None]:
    """When the message goes (None: now) and its campaign, their problems noted in ``errors``."""
    now = clock_now_ms() if now_ms is None else now_ms
    return (
        _take(errors, "send_at", _send_at(send_at, rules, now)),
        _take(errors, "campaign", _campaign(campaign)),
    )


def _campaign(value: object) -> str | _Problem | None:
    if value is None:
        return None
    if isinstance(value, str) and _CAMPAIGN.match(value):
        return value
    return _Problem("must be 1 to 64 letters, digits, '_', '.', ':' or '-', starting alphanumeric")


def _validity(value: object, rules: MessageSettings) -> int | _Problem:
    if value is None:
        return min(rules.default_validity_s, rules.max_validity_s)
    if isinstance(value, timedelta):
        seconds: float = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        return _Problem("must be a number of seconds or a timedelta")
    if not 1 <= seconds <= rules.max_validity_s:
        return _Problem(f"must be between 1 and {rules.max_validity_s} seconds")
    return int(seconds)


def _providers(value: object, known: Collection[str]) -> tuple[str, ...] | _Problem | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, list | tuple):
        return _Problem("must be a list of provider names")
    names = tuple(value)
    if not names:
        return _Problem("must name at least one provider when given")
    unknown = [n for n in names if not isinstance(n, str) or n not in known]
    if unknown:
        return _Problem(f"names unknown providers {unknown!r}; configured: {sorted(known)}")
    if len(set(names)) != len(names):
        return _Problem("names a provider twice")
    return names


def _callback_url(value: object, allow_private: bool) -> str | _Problem | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > _MAX_URL_LENGTH:
        return _Problem(f"must be an http(s) URL of at most {_MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a port that is no number
    except ValueError:
        return _Problem("must be an absolute http or https URL")
    if parts.scheme not in ("http", "https") or not host:
        return _Problem("must be an absolute http or https URL")
    problem = None if allow_private else callback_host_problem(host)
    return _Problem(problem) if problem else value


def _metadata(value: object) -> dict[str, Any] | _Problem | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        return _Problem("must be an object of string keys to scalar values")
    if len(value) > _MAX_METADATA_KEYS:
        return _Problem(f"has more than {_MAX_METADATA_KEYS} keys")
    for key, item in value.items():
        if not isinstance(key, str):
            return _Problem("keys must be strings")
        if item is not None and not isinstance(item, str | int | float | bool):
            return _Problem(f"value of {key!r} must be a string, number, boolean or null")
    encoded = json.dumps(dict(value), separators=(",", ":"))
    if len(encoded.encode()) > _MAX_METADATA_BYTES:
        return _Problem(f"is larger than {_MAX_METADATA_BYTES} bytes as JSON")
    return dict(value)


def _idempotency_key(value: object) -> str | _Problem | None:
    if value is None:
        return None
    if isinstance(value, str) and _IDEMPOTENCY_KEY.match(value):
        return value
    return _Problem("must be 1 to 255 printable ASCII characters without spaces")
