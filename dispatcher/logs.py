"""Structured logs: JSON in workers, readable console lines in ``dev``.

Events are dotted names (``sms.enqueued``, ``sms.attempt``, ``sms.accepted``, ...), bound to the
message id, task id, provider and attempt number. Call sites pass masked numbers
(:func:`~dispatcher.records.mask_number`) and never the body; :func:`redact` is the safety net that
masks any phone-number-like run of digits and removes secrets before a line is written.
"""

from __future__ import annotations

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
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "[redacted]")
    return _NUMBER_LIKE.sub(_mask_match, text)


def redact(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: drop secret fields and the SMS body, mask number-like digit runs."""
    for key in list(event_dict):
        value = event_dict[key]
        if key.lower() in _SECRET_KEYS:
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
    global _base  # noqa: PLW0603
    _base = None


_base: Any = None  # this process's logger, made once its logging is configured


def get_logger(**bound: Any) -> Any:
    """A logger of sms-dispatch with ``bound`` fields on every line. Each call binds to one
    logger of the process, assembled once (structlog would assemble a new one every call)."""
    global _base  # noqa: PLW0603 - one per process, remade by configure_logging
    if _base is None:
        _base = structlog.get_logger("sms_dispatch")
    return _base.bind(**bound)
