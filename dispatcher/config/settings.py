"""Configuration: a TOML file overridden by ``SMSD_`` environment variables.

The file is ``$SMSD_CONFIG``, else ``config/default.toml`` in the working directory when it exists,
else the defaults below. Nested settings use ``__`` in the environment:
``SMSD_PROVIDERS__SINCH__API_TOKEN`` sets ``providers.sinch.api_token``. Secrets (tokens,
passwords) are read only from the environment; a secret found in the file stops start-up.
"""

from __future__ import annotations

import functools
import os
import tomllib
from collections.abc import Collection
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from dispatcher.config.guard_settings import GuardSettings, check_regions
from dispatcher.config.redis_address import SENTINEL_SCHEME, RedisAddress, parse_sentinels
from dispatcher.config.spend_settings import SpendSettings, check_price_table
from dispatcher.core.names import PRIORITY_QUEUES
from dispatcher.core.pricing import PriceTable, to_micros
from dispatcher.core.quiet_hours import QuietRules, QuietWindow, parse_clock
from dispatcher.core.report_resend import ResendRules
from dispatcher.core.retry_policy import RetryPolicy
from dispatcher.core.routing import Route, route_for, route_name_for
from dispatcher.errors import ConfigError

__all__ = [
    "SECRET_SETTINGS",
    "ProviderSettings",
    "Settings",
    "env_var_for",
    "get_settings",
    "load_settings",
    "reset_settings",
]

ENV_PREFIX = "SMSD_"
DEFAULT_CONFIG_PATH = Path("config/default.toml")
SECRET_SETTINGS = frozenset(
    {
        "api_token",
        "auth_token",
        "api_key",
        "api_secret",
        "password",
        "sentinel_password",
        "secret",
        "webhook_secret",
        "api_keys",
    }
)


def env_var_for(*path: str) -> str:
    """The environment variable that sets the setting at ``path``."""
    return ENV_PREFIX + "__".join(part.upper() for part in path)


class RetrySettings(BaseModel):
    """Exponential backoff with full jitter; see :mod:`dispatcher.core.retry_policy`."""

    model_config = ConfigDict(frozen=True)

    base_s: float = Field(default=1.0, gt=0)
    cap_s: float = Field(default=300.0, gt=0)
    max_attempts: int = Field(default=8, ge=1, le=100)

    def policy(self) -> RetryPolicy:
        return RetryPolicy(base_s=self.base_s, cap_s=self.cap_s, max_attempts=self.max_attempts)


class CircuitSettings(BaseModel):
    """The circuit breaker of one provider, shared by all workers through Redis."""

    model_config = ConfigDict(frozen=True)

    # Opens after this many failed attempts in a row (5xx, timeouts, connection errors) ...
    failures_in_a_row: int = Field(default=5, ge=1, le=10_000)
    # ... or when at least ``min_calls`` attempts in the last ``window_s`` failed at this rate.
    failure_rate: float = Field(default=0.5, gt=0, le=1)
    min_calls: int = Field(default=20, ge=1, le=1_000_000)
    window_s: int = Field(default=60, ge=6, le=3_600)
    # Open this long, then let ``probes`` attempts through (half-open); a success closes it.
    cool_down_s: float = Field(default=30.0, gt=0, le=3_600)
    probes: int = Field(default=1, ge=1, le=100)


class ProviderSettings(BaseModel):
    """One provider entry; adapter-specific options (``service_plan_id``, ...) ride along."""

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: str
    enabled: bool = True
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    # Messages (or, where the provider counts them, message parts) per second, shared by every
    # worker; unset: no limit. ``rate_burst`` may go at once after a quiet spell (default: a
    # tenth of a second's worth, at least 1).
    rate_limit: float | None = Field(default=None, gt=0)
    rate_burst: int | None = Field(default=None, ge=1, le=100_000)
    # What to do after an ambiguous attempt (the provider may have the message): try again and
    # flag the message as a possible duplicate, or dead-letter it for a person to decide.
    on_ambiguous: Literal["retry", "dead_letter"] = "retry"
    # Retryable answers in a row on this provider before a message moves on to the next provider
    # of its route (the last provider of a route keeps retrying until the attempts run out).
    attempts_before_failover: int = Field(default=3, ge=1, le=100)
    # This provider's own retry policy, instead of [retry].
    retry: RetrySettings | None = None
    # A message waits at most this long for a rate-limit slot here; beyond it, the next provider
    # of its route takes it (seconds).
    rate_max_wait_s: float = Field(default=300.0, ge=0, le=86_400)
    # How long a 429 without Retry-After pauses this provider for every worker (seconds).
    pause_after_429_s: float = Field(default=1.0, gt=0, le=3_600)
    # How long an accepted message waits for this provider's final delivery report before it
    # ends ``delivery_unknown`` (unset: delivery_reports.timeout_s).
    delivery_report_timeout_s: int | None = Field(default=None, ge=1, le=30 * 86_400)
    # Providers that report only when asked (GoSMS, YellowPush): every worker asks them for the
    # status of each accepted message, waiting these seconds between one lookup and the next
    # (the last wait repeats) until a final status or the report timeout. ``poll_reports =
    # false`` leaves it to pushed reports. The lookups share ``poll_rate_limit`` per second
    # between every worker, and a worker has at most ``poll_in_flight`` under way at once.
    poll_reports: bool = True
    # Providers that can be asked whether they have a message by our reference (Sinch's List
    # Batches): before a message that may have reached it is sent again (its attempt had no
    # clear answer, or its sender died mid-send), it is asked; a message it has is accepted
    # with no second send. ``false`` resends at once, flagged possible_duplicate.
    ask_before_resend: bool = True
    # An undelivered report from this provider for a reason it documents as passing (the handset
    # unreachable for now) sends the message once more through the next provider of its route,
    # within its validity, once (``routes.resend_on_undelivered``: for every provider).
    resend_on_undelivered: bool = False
    poll_schedule_s: tuple[int, ...] = Field(
        default=(30, 60, 120, 300, 600, 1_800, 3_600), min_length=1, max_length=100
    )
    poll_rate_limit: float = Field(default=5.0, gt=0, le=10_000)
    poll_in_flight: int = Field(default=8, ge=1, le=1_000)
    circuit: CircuitSettings = CircuitSettings()

    @field_validator("poll_schedule_s")
    @classmethod
    def _waits_are_positive(cls, waits: tuple[int, ...]) -> tuple[int, ...]:
        if any(wait < 1 or wait > 86_400 for wait in waits):
            raise ValueError("each wait between two status lookups is 1 to 86400 seconds")
        return waits

    @property
    def burst(self) -> int:
        """The burst in force (only meaningful with a ``rate_limit``)."""
        if self.rate_burst is not None:
            return self.rate_burst
        return max(1, int((self.rate_limit or 0) / 10))

    def options(self) -> dict[str, Any]:
        """Everything the adapter factory reads, extras included."""
        return self.model_dump()


class MessageSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    default_region: str | None = None  # ISO 3166 region for national numbers, e.g. "GB"
    max_segments: int = Field(default=10, ge=1, le=255)
    default_validity_s: int = Field(default=86_400, ge=1)
    max_validity_s: int = Field(default=259_200, ge=1)  # 3 days, Sinch's own ceiling
    # How far ahead send_at may be (35 days); a message's validity counts from its send_at.
    max_schedule_s: int = Field(default=3_024_000, ge=60, le=366 * 86_400)
    # How long a final message keeps its body (0: dropped when final). A dead letter keeps it
    # for replay unless dead_letters.keep_body is off.
    body_retention_s: int = Field(default=0, ge=0, le=365 * 86_400)
    default_sender: str | None = None
    retention_s: int = Field(default=604_800, ge=60)  # how long a finished record is kept
    idempotency_ttl_s: int = Field(default=86_400, ge=60)
    # send_bulk queues one job for this many messages; a worker sends them together.
    bulk_job_size: int = Field(default=50, ge=1, le=1_000)
    # A body that is GSM-7 but for typographic characters (curly quotes, dashes, odd spaces) is
    # sent with their GSM-7 equivalents, so it is not billed as UCS-2.
    smart_encoding: bool = True


class WorkerSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    concurrency: int = Field(default=8, ge=1, le=1024)
    queues: tuple[str, ...] = ("sms.high", "sms.normal", "sms.bulk")
    # When every queue has work, the share of fetches that look at each queue first; an empty
    # queue passes its turn to the next in priority order, so ``sms.high`` is never stuck.
    queue_shares: dict[str, int] = Field(
        default_factory=lambda: {"sms.high": 8, "sms.normal": 3, "sms.bulk": 1}
    )
    prefetch_multiplier: int = Field(default=2, ge=1, le=16)
    # Provider exchanges a worker keeps in flight on its event loop at once (job threads only
    # claim and admit; a full pipeline holds them, so a worker takes no more jobs than its
    # prefetch), and the threads that record what each exchange ended with.
    max_in_flight: int = Field(default=512, ge=1, le=10_000)
    finishers: int = Field(default=2, ge=1, le=64)
    # A finisher that finds fewer than a full batch of ended sends, with others still under way,
    # waits this long for more before recording them in one round trip (0: record at once).
    finish_linger_ms: int = Field(default=5, ge=0, le=100)
    # Keep-alive connections a worker opens to one provider at most; sends beyond them wait for
    # a free one.
    connections_per_provider: int = Field(default=512, ge=1, le=10_000)
    # A provider without a rate limit that Redis admitted with its circuit closed is admitted
    # again without asking for this long (0: ask every time): a circuit opened or a 429 pause set
    # by another worker is seen this much later. Successes are counted in the worker and written
    # every report_flush_s; failures at once. The messages|<state> metrics are written on the
    # same cadence (the records themselves at once).
    gates_cache_ms: int = Field(default=100, ge=0, le=5_000)
    report_flush_s: float = Field(default=0.25, gt=0, le=10)
    lease_margin_s: float = Field(default=15.0, ge=1)
    # `smsdispatch worker` pins itself to one CPU that no other worker of the host holds (its
    # threads hand the interpreter lock to one another on one core); false: not pinned.
    pin_cpu: bool = True
    # Once the worker is ready its start-up objects are kept out of the garbage collector's scans,
    # and its young generation is collected every this many new objects (0: Python's 700).
    gc_young_threshold: int = Field(default=10_000, ge=0, le=1_000_000)
    # Each worker runs a canary job from its own queue this often; three missed make it stale.
    heartbeat_s: float = Field(default=5.0, gt=0, le=300)
    # A message published and not claimed by any sender this long after (a worker died holding
    # its job, or the job was lost on its way) gets a new job once its queue is empty; the old
    # job, if it ever runs, finds the message claimed. Looked for every
    # celery.unacked_restore_interval_s.
    claim_deadline_s: int = Field(default=30, ge=1, le=86_400)


class SchedulerSettings(BaseModel):
    """The delay-queue mover that runs in every worker."""

    model_config = ConfigDict(frozen=True)

    poll_interval_s: float = Field(default=0.25, gt=0, le=10)
    batch_size: int = Field(default=500, ge=1, le=10_000)


class CelerySettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    # How long a job taken by a worker stays invisible to others before it is handed out again: the
    # jobs a killed worker had prefetched but not started come back after this.
    visibility_timeout_s: int = Field(default=300, ge=20, le=86_400)
    # How often each worker looks for such jobs to hand out again.
    unacked_restore_interval_s: int = Field(default=10, ge=1, le=3_600)


class RedisSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    # Replicas that must have a new message's record and job before send_sms returns (Redis
    # replicates asynchronously: what the master acknowledged can vanish in a failover). 0: no
    # wait. When fewer confirm within wait_timeout_ms, the send raises EnqueueError.
    wait_replicas: int = Field(default=0, ge=0, le=16)
    wait_timeout_ms: int = Field(default=500, ge=1, le=60_000)


class LogSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    format: Literal["json", "console"] = "json"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


ApiScope = Literal["send", "operate"]


class ApiKeySettings(BaseModel):
    """One API key, kept as the SHA-256 of the key (``smsdispatch api-key new`` makes both)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    # "send": enqueue and read messages; "operate": also list and replay dead letters.
    scopes: tuple[ApiScope, ...] = ("send",)
    # Requests per second this key may make (shared by every API process), and its burst.
    rate_limit: float = Field(default=100.0, gt=0, le=1_000_000)
    rate_burst: int = Field(default=200, ge=1, le=1_000_000)
    # Countries this key may send to, and may not, instead of [guard]'s (unset: [guard]'s).
    allowed_countries: tuple[str, ...] | None = None
    denied_countries: tuple[str, ...] | None = None
    # What this key's messages may cost a UTC day and a month, in spend.currency (unset: no cap).
    daily_spend: float | None = Field(default=None, gt=0, le=90_000_000)
    monthly_spend: float | None = Field(default=None, gt=0, le=90_000_000)

    @field_validator("allowed_countries", "denied_countries")
    @classmethod
    def _regions(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else check_regions(value)

    def spend_micros(self) -> tuple[int | None, int | None]:
        """Its daily and monthly spend caps in micro-units (None: no cap)."""
        daily, monthly = self.daily_spend, self.monthly_spend
        return (
            None if daily is None else to_micros(daily),
            None if monthly is None else to_micros(monthly),
        )


class ApiSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # Named keys, stored as hashes: [api.keys.webshop] sha256 = "...", scopes = ["send"].
    keys: dict[str, ApiKeySettings] = Field(default_factory=dict)
    # Comma-separated bearer keys from the environment only (SMSD_API__API_KEYS), for local
    # stacks and scripts: each may send and operate.
    api_keys: str = ""
    # Largest request body accepted (bytes); a batch of 1,000 short messages is about 150 KB.
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    max_batch: int = Field(default=1000, ge=1, le=10_000)


class DeliveryReportSettings(BaseModel):
    """Provider callbacks to ``/v1/delivery-reports/{provider}``."""

    model_config = ConfigDict(frozen=True)

    # For providers that do not sign their callbacks: the token their callback URL carries
    # (``?token=...``), from the environment only (SMSD_DELIVERY_REPORTS__SECRET).
    secret: str = ""
    # An accepted message with no final delivery report this long after its acceptance ends
    # ``delivery_unknown`` (a report that comes later still applies); a provider may set its own
    # delivery_report_timeout_s.
    timeout_s: int = Field(default=259_200, ge=1, le=30 * 86_400)
    # How often every worker looks for status lookups due at the providers that report only
    # when asked (each provider's poll_schedule_s says when a message's lookup is due).
    poll_interval_s: float = Field(default=1.0, gt=0, le=60)
    # The window of final delivery reports kept per provider and destination country: delivery
    # rate and the time from acceptance to the report (p50, p95), behind adaptive weights,
    # ``smsdispatch providers`` / ``stats``, /metrics and the dashboard.
    window_s: int = Field(default=3_600, ge=60, le=7 * 86_400)


class CallbackSettings(BaseModel):
    """Status callbacks to the web app's ``callback_url``."""

    model_config = ConfigDict(frozen=True)

    # The HMAC-SHA256 key of X-SmsDispatch-Signature, from the environment only
    # (SMSD_CALLBACKS__SECRET); unset: callbacks go unsigned.
    secret: str = ""
    timeout_s: float = Field(default=10.0, gt=0, le=60)
    # Attempts per callback, with exponential backoff from base_s to cap_s; then it is dropped
    # (logged as callback.gave_up, and the message records callback_failed).
    max_attempts: int = Field(default=10, ge=1, le=100)
    base_s: float = Field(default=1.0, gt=0)
    cap_s: float = Field(default=600.0, gt=0)
    # Off: a callback_url must not point at loopback, private, link-local or reserved addresses
    # (refused at the door, and never connected to after DNS). On only where the web apps that
    # take callbacks live on such addresses (the local stack, tests).
    allow_private_networks: bool = False


class DeadLetterSettings(BaseModel):
    """The dead letters."""

    model_config = ConfigDict(frozen=True)

    # On: a dead letter keeps its body for replay until it is replayed or purged. Off: it loses
    # it as any final message does (messages.body_retention_s), and cannot be replayed after.
    keep_body: bool = True


class OptOutSettings(BaseModel):
    """The opt-out list: inbound keywords, what they answer, and whom an entry blocks."""

    model_config = ConfigDict(frozen=True)

    # "global": an opted-out number gets nothing from any sender; "sender": an inbound STOP
    # blocks the messages of the number it was sent to (an operator's entry may be for one
    # sender or for all of them).
    scope: Literal["global", "sender"] = "global"
    # Off: transactional messages (codes, receipts) still go to an opted-out number.
    applies_to_transactional: bool = True
    # An inbound text that is exactly one of these words (trimmed, in any case).
    stop_keywords: tuple[str, ...] = ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT")
    start_keywords: tuple[str, ...] = ("START", "UNSTOP", "YES")
    help_keywords: tuple[str, ...] = ("HELP", "INFO")
    # The reply to each ("" sends none). A reply is never blocked by the opt-out list.
    stop_reply: str = ""
    start_reply: str = ""
    help_reply: str = ""

    @field_validator("stop_keywords", "start_keywords", "help_keywords")
    @classmethod
    def _words(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not word.strip() for word in value):
            raise ValueError("a keyword must not be empty")
        return value


class QuietWindowSettings(BaseModel):
    """A quiet window, local time ("21:00" to "08:00"; both empty: none)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: str = ""
    end: str = ""

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if value:
            parse_clock(value)
        return value

    def window(self) -> QuietWindow | None:
        if not self.start and not self.end:
            return None
        if not self.start or not self.end:
            raise ValueError("start and end go together (or both empty: no quiet hours)")
        return QuietWindow(parse_clock(self.start), parse_clock(self.end))


class QuietHoursSettings(QuietWindowSettings):
    """Marketing messages wait while their recipient's local time is inside the window."""

    # A window (or {start = "", end = ""}: none) for some countries, by ISO region code ("US").
    countries: dict[str, QuietWindowSettings] = Field(default_factory=dict)

    def rules(self) -> QuietRules:
        return QuietRules(
            self.window(), {region: w.window() for region, w in self.countries.items()}
        )


class InboundSettings(BaseModel):
    """Inbound messages (MO) posted by providers to ``/v1/inbound/{provider}``."""

    model_config = ConfigDict(frozen=True)

    # Where each inbound message is forwarded as a signed callback (the status callbacks'
    # signing, retries and event_id); "" forwards none.
    callback_url: str = ""
    # How long an inbound message's text is kept; its record (masked number, keyword, when)
    # is kept for messages.retention_s.
    retention_s: int = Field(default=86_400, ge=0, le=365 * 86_400)


class WeightedProvider(BaseModel):
    """One provider of a weighted route: ``{provider = "sinch", weight = 70}``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: str
    weight: float = Field(ge=0, le=1_000_000)


RouteStep = str | WeightedProvider


class RouteSettings(BaseModel):
    """Destination prefixes to providers. A route lists provider names in the order they are
    tried, or ``{provider, weight}`` tables: traffic is split by weight, the others of the route
    (weight 0: failover only) follow."""

    model_config = ConfigDict(frozen=True)

    default: tuple[RouteStep, ...] = ("sinch",)
    prefixes: dict[str, tuple[RouteStep, ...]] = Field(default_factory=dict)
    # Shrink the share of a weighted provider whose recent failure rate or latency is far worse
    # than its peers', or whose delivery rate for the destination's country is (with at least
    # delivery_min_reports final reports for it in delivery_reports.window_s); see
    # ``smsdispatch providers``.
    adaptive_weights: bool = True
    delivery_min_reports: int = Field(default=20, ge=1, le=1_000_000)
    # An undelivered report for a reason its provider documents as passing sends the message
    # once more through the next provider of its route (per provider: resend_on_undelivered).
    resend_on_undelivered: bool = False
    # The same for the routes named here only: prefixes as under [routes.prefixes] (digits, no
    # +), and "default" for the default route.
    resend_on_undelivered_routes: tuple[str, ...] = ()
    # How a route orders its providers, by route ("default" or a prefix): "in_order" (as
    # listed, or by weight) or "least_cost" (cheapest first for the destination, by [prices],
    # each price divided by the provider's health factor).
    strategies: dict[str, Literal["in_order", "least_cost"]] = Field(default_factory=dict)

    def least_cost(self, route_name: str) -> bool:
        """Whether the route ``route_name`` ("default" or a prefix) tries cheapest first."""
        return self.strategies.get(route_name) == "least_cost"

    def route_of(self, to: str, override: tuple[str, ...], enabled: Collection[str]) -> Route:
        """The route of a message to ``to`` (its own ``providers`` when it names some), without
        the providers not ``enabled``."""
        return route_for(
            to,
            override=override,
            prefixes=self.prefix_routes,
            default=self.default_route,
            enabled=enabled,
        )

    def tries_cheapest_first(self, to: str, override: tuple[str, ...]) -> bool:
        """Whether a message to ``to`` goes by a least-cost route (never one with its own
        ``providers``)."""
        return not override and self.least_cost(route_name_for(to, self.prefix_routes))

    def all_routes(self) -> dict[str, Route]:
        """Every route by where it is configured (``routes.default``, ``routes.prefixes.44``)."""
        named = {"routes.default": self.default}
        named.update({f"routes.prefixes.{p}": steps for p, steps in self.prefixes.items()})
        return {where: Route.from_steps(where, steps) for where, steps in named.items()}

    @functools.cached_property
    def default_route(self) -> Route:
        return Route.from_steps("routes.default", self.default)

    @functools.cached_property
    def prefix_routes(self) -> dict[str, Route]:
        return {
            p.lstrip("+"): Route.from_steps(f"routes.prefixes.{p}", steps)
            for p, steps in self.prefixes.items()
        }


class Settings(BaseSettings):
    """Everything sms-dispatch reads at start."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    redis_url: str | None = None
    # With a sentinel:// redis_url: the master the Sentinels name, and their own password.
    sentinel_master: str | None = None
    sentinel_password: str | None = None
    redis: RedisSettings = RedisSettings()
    data_dir: Path = Path(".smsd")
    messages: MessageSettings = MessageSettings()
    worker: WorkerSettings = WorkerSettings()
    retry: RetrySettings = RetrySettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    celery: CelerySettings = CelerySettings()
    log: LogSettings = LogSettings()
    api: ApiSettings = ApiSettings()
    delivery_reports: DeliveryReportSettings = DeliveryReportSettings()
    callbacks: CallbackSettings = CallbackSettings()
    dead_letters: DeadLetterSettings = DeadLetterSettings()
    opt_out: OptOutSettings = OptOutSettings()
    inbound: InboundSettings = InboundSettings()
    quiet_hours: QuietHoursSettings = QuietHoursSettings()
    guard: GuardSettings = GuardSettings()
    spend: SpendSettings = SpendSettings()
    # Each provider's price per segment: [prices.sinch] default = 0.0075, "44" = 0.035.
    prices: dict[str, dict[str, float]] = Field(default_factory=dict)
    routes: RouteSettings = RouteSettings()
    providers: dict[str, ProviderSettings] = Field(default_factory=dict)

    def price_tables(self) -> dict[str, PriceTable]:
        """Each provider's price table (an empty one for a provider without prices)."""
        return {name: PriceTable.from_config(self.prices.get(name, {})) for name in self.providers}

    def resend_rules(self) -> ResendRules:
        """Who resends after an undelivered report for a passing reason, and the routes."""
        return ResendRules(
            every_route=self.routes.resend_on_undelivered,
            providers=frozenset(n for n, p in self.providers.items() if p.resend_on_undelivered),
            prefixes=self.routes.prefix_routes,
            default=self.routes.default_route,
            enabled=tuple(n for n, p in self.providers.items() if p.enabled),
            routes=frozenset(r.lstrip("+") for r in self.routes.resend_on_undelivered_routes),
        )

    def secret_values(self) -> tuple[str, ...]:
        """The secrets of sms-dispatch itself (API keys from the environment, the report token,
        the callback signing secret, the Redis password), so logs can be scrubbed of them."""
        plain = [k.strip() for k in self.api.api_keys.split(",") if k.strip()]
        redis_password = RedisAddress(self.redis_url).password() if self.redis_url else None
        return tuple(
            v
            for v in (
                *plain,
                self.delivery_reports.secret,
                self.callbacks.secret,
                redis_password,
                self.sentinel_password,
            )
            if v
        )

    def redis_address(self, url: str) -> RedisAddress:
        """``url`` (this redis_url, or the one the dev stack wrote down) with the Sentinel
        settings."""
        return RedisAddress(url, self.sentinel_master, self.sentinel_password)

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value and value.startswith(SENTINEL_SCHEME):
            parse_sentinels(value)  # ValueError: what is wrong with it
        elif value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss://, unix:// or sentinel://")
        return value or None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = config_path()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


_UNION_TAGS = frozenset({"str", "WeightedProvider"})  # pydantic names union members in a loc


def config_path() -> Path | None:
    """The TOML file in force, if any."""
    explicit = os.environ.get("SMSD_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError("SMSD_CONFIG", f"names {explicit!r}, which is not a file")
        return path
    return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.is_file() else None


def _secrets_in_file(document: dict[str, Any], path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for key, value in document.items():
        here = (*path, key)
        if isinstance(value, dict):
            found.extend(_secrets_in_file(value, here))
        elif key.lower() in SECRET_SETTINGS and value not in ("", None):
            found.append(here)
    return found


def load_settings() -> Settings:
    """Read the file and the environment; every problem becomes a :class:`ConfigError`."""
    path = config_path()
    if path is not None:
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(path), f"is not valid TOML: {exc}") from exc
        leaked = _secrets_in_file(document)
        if leaked:
            where = ".".join(leaked[0])
            raise ConfigError(
                where,
                f"is a secret and must not be in {path}",
                env_var=env_var_for(*leaked[0]),
            )
    try:
        settings = Settings()
    except ValidationError as exc:
        # Of a union's errors (a route step is a name or a table), the deepest says most.
        first = max(exc.errors(), key=lambda error: len(error["loc"]))
        where = ".".join(str(part) for part in first["loc"] if part not in _UNION_TAGS)
        raise ConfigError(where or "config", first["msg"]) from exc
    _check_consistency(settings)
    return settings


def _check_routes(settings: Settings) -> None:
    try:
        routes = settings.routes.all_routes()
    except ValueError as exc:
        where, _, reason = str(exc).partition(": ")
        raise ConfigError(where, reason) from exc
    for where, route in routes.items():
        for name in route.providers:
            if name not in settings.providers:
                raise ConfigError(where, f"names provider {name!r}, which is not under [providers]")
    for prefix in settings.routes.prefixes:
        if not prefix.lstrip("+").isdigit():
            raise ConfigError(f"routes.prefixes.{prefix}", 'must be E.164 digits, e.g. "44"')
    named = {"default": routes["routes.default"]}
    named.update({p.lstrip("+"): routes[f"routes.prefixes.{p}"] for p in settings.routes.prefixes})
    for name, strategy in settings.routes.strategies.items():
        where = f"routes.strategies.{name}"
        if name not in named:
            raise ConfigError(where, 'names no route: "default" or a prefix of [routes.prefixes]')
        if strategy == "least_cost" and named[name].weights is not None:
            raise ConfigError(where, "a weighted route splits by weight; least_cost needs a list")


def _check_quiet_hours(settings: Settings) -> None:
    quiet = settings.quiet_hours
    for where, window in [("quiet_hours", quiet)] + [
        (f"quiet_hours.countries.{region}", w) for region, w in quiet.countries.items()
    ]:
        try:
            window.window()
        except ValueError as exc:
            raise ConfigError(where, str(exc)) from exc
    for region in quiet.countries:
        if not (len(region) == 2 and region.isalpha() and region.isupper()):
            raise ConfigError(f"quiet_hours.countries.{region}", 'must be an ISO region, e.g. "US"')


def _check_prices(settings: Settings) -> None:
    for provider, table in settings.prices.items():
        if provider not in settings.providers:
            raise ConfigError(f"prices.{provider}", "is not a provider under [providers]")
        try:
            check_price_table(provider, table)
        except ValueError as exc:
            where, _, reason = str(exc).partition(": ")
            raise ConfigError(where, reason) from exc
    capped = settings.spend.any_cap or any(
        key.daily_spend or key.monthly_spend for key in settings.api.keys.values()
    )
    if not capped:
        return
    for name, configured in settings.providers.items():
        if configured.enabled and "default" not in settings.prices.get(name, {}):
            raise ConfigError(
                f"prices.{name}.default",
                "is needed while a spend cap is set: every message must have a price",
            )


def _check_consistency(settings: Settings) -> None:
    sentinel = bool(settings.redis_url and settings.redis_url.startswith(SENTINEL_SCHEME))
    if sentinel and not settings.sentinel_master:
        raise ConfigError(
            "sentinel_master",
            "is needed with a sentinel:// redis_url: the name of the master the Sentinels watch",
            env_var="SMSD_SENTINEL_MASTER",
        )
    _check_routes(settings)
    _check_quiet_hours(settings)
    _check_prices(settings)
    for queue in settings.worker.queue_shares:
        if queue not in PRIORITY_QUEUES.values():
            raise ConfigError(
                "worker.queue_shares",
                f"{queue!r} is not one of {sorted(PRIORITY_QUEUES.values())}",
            )
    if any(share < 1 for share in settings.worker.queue_shares.values()):
        raise ConfigError("worker.queue_shares", "every share must be a whole number of 1 or more")
    for where, retry in [("retry", settings.retry)] + [
        (f"providers.{name}.retry", p.retry) for name, p in settings.providers.items() if p.retry
    ]:
        if retry.cap_s < retry.base_s:
            raise ConfigError(f"{where}.cap_s", "must not be below base_s")
    if settings.callbacks.cap_s < settings.callbacks.base_s:
        raise ConfigError("callbacks.cap_s", "must not be below base_s")
    for queue in settings.worker.queues:
        if queue not in PRIORITY_QUEUES.values():
            raise ConfigError(
                "worker.queues", f"{queue!r} is not one of {sorted(PRIORITY_QUEUES.values())}"
            )
    # A send may follow a lookup by our reference (ask_before_resend): count both.
    longest_send_s = 2 * max((p.timeout_s for p in settings.providers.values()), default=10.0)
    if settings.celery.visibility_timeout_s <= 2 * (
        longest_send_s + settings.worker.lease_margin_s
    ):
        raise ConfigError(
            "celery.visibility_timeout_s",
            "must be well above the longest provider timeout plus the lease margin, "
            "or a slow send is redelivered while it runs",
        )


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once."""
    return load_settings()


def reset_settings() -> None:
    """Forget the cached settings (after the environment changed)."""
    get_settings.cache_clear()
