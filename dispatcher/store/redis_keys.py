"""Every Redis key sms-dispatch writes, in one place."""

from __future__ import annotations

import hashlib

__all__ = [
    "AWAITING_REPORTS",
    "BODY_DROPS",
    "CALLBACKS",
    "CALLBACK_TRIES",
    "DEAD_LETTERS",
    "DELAY_QUEUE",
    "INBOUND",
    "MESSAGE_PREFIX",
    "METRICS",
    "OPT_OUTS",
    "PENDING",
    "PREFIX",
    "PUMPING_BRAKES",
    "READY_PREFIX",
    "SPEND_PREFIX",
    "WORKER_HEARTBEATS",
    "api_rate_key",
    "campaign_key",
    "circuit_key",
    "delivery_window_key",
    "hour_key",
    "idempotency_key",
    "inbound_key",
    "inbound_seen_key",
    "inbound_text_key",
    "message_key",
    "pause_key",
    "poll_queue_key",
    "poll_rate_key",
    "provider_id_key",
    "rate_key",
    "ready_list_key",
    "ready_moved_key",
    "sent_rate_key",
    "spend_key",
    "velocity_key",
    "window_key",
]

PREFIX = "smsd"
MESSAGE_PREFIX = f"{PREFIX}:msg:"

# Sorted set: message ids waiting for their next attempt, scored by due time (epoch ms).
DELAY_QUEUE = f"{PREFIX}:delay"
# Sorted set: every message given a job (at enqueue, by the delay-queue mover, by the recovery of
# a dead send) or being sent, until its attempt is recorded. Scored by when the job was published
# (epoch ms) until a sender claims the message, then by when the send lease ends, negated (so
# ZCOUNT -inf (0 counts the sends in flight, and one command moves a message from waiting to
# being sent). A send whose lease ended had a sender that died: the scheduler publishes a new job
# for it. A message still waiting for a sender long after its job was published, with its
# priority queue empty, lost its job: the scheduler publishes a new one.
PENDING = f"{PREFIX}:pending"
# List a priority queue (``smsd:ready:<queue>``): ids of the messages ``send_sms`` queued on it and
# no sender has taken yet, oldest first. Enqueue gives the list a send job when its message is the
# only one there; a job takes up to messages.bulk_job_size ids from the head and claims them, and
# queues the next job when it leaves any behind (MessageStore.take_ready).
READY_PREFIX = f"{PREFIX}:ready:"
# Sorted set: accepted message ids waiting for their final delivery report, scored by when they
# stop waiting (acceptance + delivery_reports.timeout_s, epoch ms): then they end delivery_unknown.
AWAITING_REPORTS = f"{PREFIX}:awaiting_reports"
# Sorted set: final messages whose body is to be dropped, scored by when (epoch ms:
# final + messages.body_retention_s); every worker's mover drops the due ones.
BODY_DROPS = f"{PREFIX}:body_drops"
# Sorted set: dead-lettered message ids, scored by when they were dead-lettered (epoch ms).
DEAD_LETTERS = f"{PREFIX}:dead"
# Sorted set: status callbacks to post, "<message id>|<state>", scored by when due (epoch ms).
CALLBACKS = f"{PREFIX}:callbacks"
# Hash: "<message id>|<state>" -> attempts made at posting that callback.
CALLBACK_TRIES = f"{PREFIX}:callbacks:tries"
# Hash: counters since the start for /metrics ("attempts|<provider>|<outcome>",
# "latency|<provider>|<bucket>", "latency_ms_sum|<provider>", "messages|<state>",
# "waits|<provider>|<why>", "polls|<provider>|<outcome>").
METRICS = f"{PREFIX}:metrics"
# Hash: the opt-out list, "<digest of sender and number>" -> the entry (JSON: number, sender,
# source, at_ms); see dispatcher.store.opt_outs.
OPT_OUTS = f"{PREFIX}:opt_outs"
# Hash: the pumping guard's brakes in force, destination country (ISO region) -> until (epoch ms).
PUMPING_BRAKES = f"{PREFIX}:brakes"
# Sorted set: inbound texts' ids, scored by when each came (epoch ms); entries older than
# messages.retention_s are trimmed as new ones come.
INBOUND = f"{PREFIX}:inbound"
# Sorted set: worker name -> when it last proved it is consuming (epoch ms).
WORKER_HEARTBEATS = f"{PREFIX}:workers"


def message_key(message_id: str) -> str:
    """Hash: the message record (state, destination, body, provider, ...), its send lease
    (``claim``, ``lease_until_ms``) and its attempts (``attempt:<n>``, one JSON document each)."""
    return f"{MESSAGE_PREFIX}{message_id}"


def idempotency_key(key: str, scope: str | None = None) -> str:
    """String with a TTL: the message id an idempotency key was first used for, within its scope
    (the API key that sent it; none for the Python API).

    The caller's key is hashed, so its length and characters do not reach Redis key space.
    """
    scoped = key if scope is None else f"{scope}\n{key}"
    digest = hashlib.sha256(scoped.encode()).hexdigest()
    return f"{PREFIX}:idem:{digest}"


def provider_id_key(provider: str, provider_message_id: str) -> str:
    """String with a TTL: our message id for a provider's message id (delivery reports)."""
    digest = hashlib.sha256(provider_message_id.encode()).hexdigest()[:32]
    return f"{PREFIX}:pmid:{provider}:{digest}"


def api_rate_key(key_name: str) -> str:
    """String with a TTL: an API key's request rate limit (GCRA theoretical arrival time)."""
    return f"{PREFIX}:apirate:{key_name}"


def circuit_key(provider: str) -> str:
    """Hash: the provider's circuit (state, since_ms, open_until_ms, reason, run, probes)."""
    return f"{PREFIX}:circuit:{provider}"


def rate_key(provider: str) -> str:
    """String with a TTL: the provider's rate-limit theoretical arrival time (epoch ms, GCRA)."""
    return f"{PREFIX}:rate:{provider}"


def sent_rate_key(provider: str) -> str:
    """String with a TTL: the provider's rate limit as checked at the moment of sending (GCRA)."""
    return f"{PREFIX}:rate:{provider}:sent"


def pause_key(provider: str) -> str:
    """String with a TTL: present while the provider is paused after a 429."""
    return f"{PREFIX}:pause:{provider}"


def hour_key(provider: str) -> str:
    """Hash: the provider's last hour, a slot a minute (outcome counts, latency sum)."""
    return f"{PREFIX}:hour:{provider}"


def window_key(provider: str) -> str:
    """Hash: the provider's recent attempts, failures and latency, in rotating buckets."""
    return f"{PREFIX}:window:{provider}"


def ready_list_key(queue: str) -> str:
    """List: the messages ready to send on ``queue``, oldest first (see READY_PREFIX)."""
    return f"{READY_PREFIX}{queue}"


def ready_moved_key(queue: str) -> str:
    """String: when a send job last took messages from ``queue``'s ready list (epoch ms)."""
    return f"{READY_PREFIX}{queue}:moved"


def poll_queue_key(provider: str) -> str:
    """Sorted set: the accepted messages of a provider that reports only when asked, scored by
    when their status is next looked up (epoch ms); while a worker looks one up, by when that
    lookup is given up on (MessageStore.take_due_polls)."""
    return f"{PREFIX}:polls:{provider}"


def poll_rate_key(provider: str) -> str:
    """String with a TTL: the provider's status-lookup rate limit (GCRA theoretical arrival
    time), shared by every worker."""
    return f"{PREFIX}:rate:{provider}:polls"


def delivery_window_key(provider: str, bucket: int) -> str:
    """Hash with a TTL: the final delivery reports of ``provider`` in one bucket of the delivery
    window (bucket = epoch ms // the bucket's length): ``<country>|d`` delivered,
    ``<country>|u`` undelivered, ``<country>|l<i>`` reports in report-latency bucket ``i``."""
    return f"{PREFIX}:delivery:{provider}:{bucket}"


def inbound_key(inbound_id: str) -> str:
    """Hash with a TTL (messages.retention_s): an inbound text's record (provider, from, to,
    when, keyword), without the text."""
    return f"{PREFIX}:in:{inbound_id}"


def inbound_text_key(inbound_id: str) -> str:
    """String with a TTL (inbound.retention_s): an inbound text's text."""
    return f"{PREFIX}:in:{inbound_id}:text"


def inbound_seen_key(provider: str, provider_message_id: str) -> str:
    """String with a TTL: our id of an inbound text by the provider's id for it, so a post the
    provider makes again is taken once."""
    digest = hashlib.sha256(provider_message_id.encode()).hexdigest()[:32]
    return f"{PREFIX}:in:seen:{provider}:{digest}"


def campaign_key(campaign: str) -> str:
    """Set with a TTL (its longest message's): the ids of the messages sent with a campaign tag."""
    return f"{PREFIX}:campaign:{campaign}"


def velocity_key(window_s: int, bucket: int) -> str:
    """Hash with a TTL: the pumping guard's counts of one fixed window of ``window_s`` (its
    number ``bucket`` since the epoch), a field a counter (core/velocity.py)."""
    return f"{PREFIX}:velocity:{window_s}:{bucket}"


SPEND_PREFIX = f"{PREFIX}:spend:"


def spend_key(month: str) -> str:
    """Hash with a TTL: the spend of one UTC month ("202612"), a field a counter ("all",
    "country:<region>", "key:<name>") for the month and "<DD>|<counter>" for each of its days,
    in micro-units (core/spend_caps.py)."""
    return SPEND_PREFIX + month
