"""Structured logs: JSON in workers, readable console lines in ``dev``.

Events are dotted names (``sms.enqueued``, ``sms.attempt``, ``sms.accepted``, ...), bound to the
message id, task id, provider and attempt number. Call sites pass masked numbers
(:func:`~dispatcher.core.message_record.mask_number`) and never the body; :func:`redact` is the
safety net that masks any phone-number-like run of digits and removes secrets before a line is
written.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

__all__ = ["configure_logging", "get_logger", "redact", "register_secrets", "scrub"]

_NUMBER_LIKE = re.compile(r"(?<![\w+])\+?\d[\d ().-]{5,18}\d(?![\w])")
_SECRET_KEYS = frozenset(
    {
        "authorization",
        "api_token",
        "auth_token",
        "api_secret",
        "token",
        "password",
        "secret",
        "api_key",
        "api_keys",
        "body",
    }
)
_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secrets(values: Iterable[str]) -> None:
    """Values (provider tokens, API keys) that must never appear in a log line."""
    with _secrets_lock:
        _secrets.update(v for v in values if v and len(v) >= 4)
        _scrubbed.cache_clear()  # what was scrubbed before did not know these


def _mask_match(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = [c for c in text if c.isdigit()]
    if len(digits) < 7:
        return text
    prefix = "+" if text.startswith("+") else ""
    return prefix + "*" * (len(digits) - 4) + "".join(digits[-4:])


def scrub(text: str) -> str:
    """``text`` with every registered secret removed and number-like digit runs masked: for log
    lines, and for what a provider wrote back (it may echo the number or a credential) before it
    is kept with a message."""
    if len(text) > _SCRUB_CACHED_UP_TO:
        return _scrub(text)
    return _scrubbed(text)


def _scrub(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "[redacted]")
    return _NUMBER_LIKE.sub(_mask_match, text)


# The short values of log lines repeat (event names, providers, outcomes, a message's id on each
# of its lines): each is scrubbed once. Emptied when a secret is registered.
_SCRUB_CACHED_UP_TO = 200
_scrubbed = functools.lru_cache(maxsize=8192)(_scrub)


@functools.lru_cache(maxsize=1024)
def _is_secret_key(key: str) -> bool:
    return key.lower() in _SECRET_KEYS


def redact(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: drop secret fields and the SMS body, mask number-like digit runs."""
    for key, value in event_dict.items():  # values replaced in place: the keys stay as they are
        if _is_secret_key(key):
            event_dict[key] = "[redacted]"
        elif isinstance(value, str):
            event_dict[key] = scrub(value)
        elif isinstance(value, list | tuple):
            event_dict[key] = [scrub(v) if isinstance(v, str) else v for v in value]
    return event_dict


def configure_logging(fmt: str = "json", level: str = "INFO") -> None:
    """Configure structlog for this process (workers, API, CLI)."""
    renderer: Any
    if fmt == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    else:
        renderer = structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    global _base, _probe  # noqa: PLW0603
    _base = _probe = None


_base: Any = None  # this process's logger, made once its logging is configured
_probe: Any = None  # a logger built from it once, asked which levels are written

# The log methods, by the level each writes at.
_METHOD_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}


def _skipped(*_args: Any, **_fields: Any) -> None:
    return None


class BoundFields:
    """The fields of a logger, bound to the process's logger only when a line is written at a
    level in use: binding copies the context, and most lines of a message's path (``info``)
    are below the level a busy worker runs at."""

    __slots__ = ("_fields",)

    def __init__(self, fields: dict[str, Any]) -> None:
        self._fields = fields

    def bind(self, **more: Any) -> BoundFields:
        return BoundFields({**self._fields, **more})

    def __getattr__(self, name: str) -> Any:
        global _base, _probe  # noqa: PLW0603 - one per process, remade by configure_logging
        if _base is None:
            _base = structlog.get_logger("sms_dispatch")
        level = _METHOD_LEVELS.get(name)
        if level is not None:
            if _probe is None:
                _probe = _base.bind()
            enabled = getattr(_probe, "is_enabled_for", None)
            if enabled is not None and not enabled(level):
                return _skipped
        return getattr(_base.bind(**self._fields), name)


def get_logger(**bound: Any) -> Any:
    """A logger of sms-dispatch with ``bound`` fields on every line. The fields are bound when a
    line is written, to one logger of the process assembled once (structlog would assemble a
    new one every call)."""
    return BoundFields(bound)
