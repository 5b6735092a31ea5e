"""The pumping guard's state beside the create script: conversions the web app reports, and
the brakes in force (:mod:`dispatcher.core.pumping_brake`)."""

from __future__ import annotations

import enum

import redis

from dispatcher.core.pumping_brake import brake_counters
from dispatcher.core.velocity import VelocityWindow
from dispatcher.store.connection import translates_redis_errors
from dispatcher.store.lua_scripts import register_script
from dispatcher.store.redis_keys import METRICS, PUMPING_BRAKES, message_key, velocity_key

__all__ = ["Conversion", "PumpingGuardStore"]


class Conversion(enum.StrEnum):
    """What came of a reported conversion."""

    NOTED = "noted"
    REPEAT = "repeat"  # reported before: counted once
    MISSING = "missing"  # no such message


_CONVERSION = {0: Conversion.MISSING, 1: Conversion.NOTED, 2: Conversion.REPEAT}


class PumpingGuardStore:
    """Conversions and brakes, in the pumping guard's windows of ``window``."""

    def __init__(self, client: redis.Redis, window: VelocityWindow) -> None:
        self._redis = client
        self._window = window
        self._record = register_script(client, "record_conversion")

    def _window_keys(self, now_ms: int) -> tuple[str, str]:
        window_s, bucket = self._window.window_ms // 1000, self._window.bucket(now_ms)
        return velocity_key(window_s, bucket - 1), velocity_key(window_s, bucket)

    @translates_redis_errors
    def record_conversion(
        self, message_id: str, otp_country: str | None, now_ms: int
    ) -> tuple[Conversion, int | None]:
        """Note that ``message_id`` was used; an OTP's conversion counts for ``otp_country``.
        What came of it, and when it was first noted (epoch ms; None: no such message)."""
        counter = brake_counters(otp_country)[1] if otp_country else ""
        found = self._record(
            keys=[message_key(message_id), self._window_keys(now_ms)[1], METRICS],
            args=[now_ms, counter, 2 * self._window.window_ms],
        )
        noted_at = int(found[1]) if len(found) > 1 else None
        return _CONVERSION[int(found[0])], noted_at

    @translates_redis_errors
    def brakes(self) -> dict[str, int]:
        """The brakes put on, country to until (epoch ms; some may have run out)."""
        raw: dict[str, str] = self._redis.hgetall(PUMPING_BRAKES)  # type: ignore[assignment]
        return {country: int(float(until)) for country, until in sorted(raw.items())}

    @translates_redis_errors
    def release(self, country: str, now_ms: int) -> bool:
        """Take ``country``'s brake off with a fresh start; False when it had none."""
        counters = brake_counters(country)
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(PUMPING_BRAKES, country)
            for key in self._window_keys(now_ms):
                pipe.hdel(key, *counters)
            released, *_ = pipe.execute()
        return bool(released)
