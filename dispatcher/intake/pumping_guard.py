"""Conversions the web app reports, and the pumping guard's brakes as operators see and
release them (:mod:`dispatcher.core.pumping_brake`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dispatcher.config.settings import Settings
from dispatcher.core.countries import is_region_code
from dispatcher.core.message_record import record_region
from dispatcher.core.velocity import VelocityWindow
from dispatcher.errors import InvalidMessage, MessageNotFound
from dispatcher.logs import get_logger
from dispatcher.store.connection import RedisClient
from dispatcher.store.messages import MessageStore
from dispatcher.store.pumping_guard import Conversion, PumpingGuardStore

__all__ = ["PumpingGuard"]


class PumpingGuard:
    """The conversions and brakes of one deployment."""

    def __init__(
        self,
        settings: Settings,
        client: RedisClient,
        messages: MessageStore,
        *,
        clock_ms: Callable[[], int],
    ) -> None:
        self._store = PumpingGuardStore(client, VelocityWindow(settings.guard.window_s * 1000))
        self._messages = messages
        self._clock_ms = clock_ms

    def report_conversion(self, message_id: str) -> dict[str, Any]:
        """Note that the web app used ``message_id`` (the code was typed in, the link opened):
        ``{"id", "converted_at_ms", "repeat"}``. An OTP's first report counts for its country's
        brake; a repeat is counted once. Raises :class:`MessageNotFound`."""
        found = self._messages.get(message_id)
        if found is None:
            raise MessageNotFound(message_id)
        record = found[0]
        country = record_region(record) if record.category == "otp" else None
        now = self._clock_ms()
        noted, converted_at = self._store.record_conversion(message_id, country, now)
        if noted is Conversion.MISSING:  # expired between the read and the note
            raise MessageNotFound(message_id)
        get_logger(message_id=message_id).info(
            "sms.converted", category=record.category, region=country, repeat=noted.value
        )
        return {
            "id": message_id,
            "converted_at_ms": converted_at,
            "repeat": noted is Conversion.REPEAT,
        }

    def brakes(self) -> list[dict[str, Any]]:
        """Every brake put on: ``{"country", "until_ms", "in_force"}`` (one that ran out comes
        off at the next OTP to its country)."""
        now = self._clock_ms()
        return [
            {"country": country, "until_ms": until, "in_force": until > now}
            for country, until in self._store.brakes().items()
        ]

    def release(self, country: object) -> bool:
        """Take a country's brake off, with a fresh start; False when it had none. Raises
        :class:`InvalidMessage` naming ``country`` for a code that is no region."""
        if not isinstance(country, str) or not is_region_code(country):
            raise InvalidMessage({"country": "must be an ISO 3166 region code, e.g. US"})
        released = self._store.release(country, self._clock_ms())
        get_logger().warning("guard.brake_released", region=country, released=released)
        return released
