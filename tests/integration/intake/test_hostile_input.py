"""10,000 hostile requests at the HTTP API: only refusals come back (4xx; a batch of bad messages
is answered 200 with every one refused), nothing is recorded or queued, and the API still works.

The requests are drawn from a seeded generator, so every run sends the same ones: malformed and
hostile JSON, every message field given a bad value (and random JSON trees), bad and missing
keys, wrong methods, media types and paths, oversized bodies, hostile ids and query strings.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import string
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import redis

from dispatcher.api.api_keys import key_digest
from dispatcher.sending.loop_thread import LoopThread
from dispatcher.store.redis_keys import PENDING, PREFIX
from tests.conftest import OPERATOR_KEY, SENDER_KEY, ApiFactory

REQUESTS = 10_000
SEED = 20_261_201
VALID = {"to": "+14155552671", "body": "hello"}
VALID_BODY = json.dumps(VALID).encode()


@dataclass(frozen=True, slots=True)
class Hostile:
    """One request: what it is (for the report), and how to send it."""

    kind: str
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    key: str | None = OPERATOR_KEY


BAD_FIELD_VALUES: dict[str, list[Any]] = {
    "to": [
        "",
        " ",
        "+",
        "+1",
        "+1415555267",
        "+999123456789",
        "14155552671x",
        "+1 415 555 2671 ext. 99 or so",
        "+" + "9" * 200,
        "'; DROP TABLE messages; --",
        "<script>alert(1)</script>",
        "../../etc/passwd",
        "%2B14155552671",
        "0",
        None,
        14155552671,
        1.5,
        True,
        [],
        {},
        ["+14155552671"],
    ],
    "body": ["", "   ", "\t\n", None, 5, [], {"text": "hi"}, "x" * 2000, "\U0001f600" * 400],
    "priority": ["urgent", "", 1, [], "high "],
    "validity": [0, -1, 10**12, "soon", [], {}, 1e300, "-5"],
    "sender": ["ThisIsTooLongASender", "!!", "12", "", 5, "+1234567890123456", "a\nb", [1]],
    "providers": [["nosuch"], "sinch", [1], "", {"sinch": 1}, [None]],
    "callback_url": [
        "javascript:alert(1)",
        "file:///etc/passwd",
        "ftp://example.test/x",
        "http://",
        "not a url",
        5,
        [],
        "gopher://127.0.0.1:6379/_FLUSHALL",
    ],
    "metadata": [
        {"a": {"nested": 1}},
        [1],
        "x",
        {f"k{i}": "v" for i in range(33)},
        {"a": "x" * 5000},
        {"": [None]},
    ],
    "idempotency_key": ["", "\u00e9t\u00e9", "x" * 300, 5, "\n", [], "a\x00b"],
}
# Names a message does not have, some of them the names of the Python parameters behind it.
UNKNOWN_FIELDS = ["self", "rules", "known_providers", "To", "bogus", "", "__class__", "body "]
RAW_BODIES = [
    b"",
    b"{",
    b'{"to": "+14155552671", "body": "hel',
    b"\xff\xfe\x00{}",
    b"\xef\xbb\xbf{}",
    b"[]",
    b"null",
    b"1",
    b'"a string"',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b"1" * 10_000,
    b'{"to": NaN, "body": Infinity}',
    b'{"to": "+14155552671", "to": 1, "body": "x"}',
    b'{"validity": -Infinity, "to": "+14155552671", "body": "x"}',
    b"\x00" * 64,
]
MESSAGE_PATHS = ["/v1/messages", "/v1/messages:batch"]


def json_tree(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON value: scalars of every type, and lists and objects of them."""
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 2**63, rng.randint(-(10**6), 10**6), rng.random() * 1e9])
    if kind in {3, 4}:
        alphabet = string.printable + "\u00e9\u4e2d\U0001f600\u200b\ufeff\x00"
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(40)))
    if kind in {5, 6}:
        return [json_tree(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {str(json_tree(rng, 3)): json_tree(rng, depth + 1) for _ in range(rng.randrange(4))}


def bad_message(rng: random.Random) -> dict[str, Any]:
    """A message with at least one field that can never pass, and others good or random."""
    message: dict[str, Any] = dict(VALID)
    bad_field = rng.choice([*BAD_FIELD_VALUES, "unknown", "missing"])
    if bad_field == "unknown":
        message[rng.choice(UNKNOWN_FIELDS)] = json_tree(rng)
    elif bad_field == "missing":
        del message[rng.choice(["to", "body"])]
    else:
        message[bad_field] = rng.choice(BAD_FIELD_VALUES[bad_field])
    for _ in range(rng.randrange(3)):  # noise in the other fields, good or not
        other = rng.choice(list(BAD_FIELD_VALUES))
        if other != bad_field and other not in {"to", "body"}:
            message[other] = json_tree(rng)
    return message


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def hostile_requests(rng: random.Random, count: int) -> list[Hostile]:
    """``count`` hostile requests, the same ones for the same generator."""
    makers: list[tuple[int, Callable[[], Hostile]]] = [
        (30, lambda: Hostile("bad field", "POST", "/v1/messages", _json(bad_message(rng)))),
        (
            8,
            lambda: Hostile(
                "batch of bad messages",
                "POST",
                "/v1/messages:batch",
                _json({"messages": [bad_message(rng) for _ in range(rng.randint(1, 20))]}),
            ),
        ),
        (
            6,
            lambda: Hostile(
                "bad batch",
                "POST",
                "/v1/messages:batch",
                _json(
                    rng.choice(
                        [
                            {"messages": json_tree(rng)},
                            {"messages": [VALID] * 1001},
                            {"messages": [VALID, 1]},
                            {"messages": []},
                            {"messages": [VALID], "extra": 1},
                        ]
                    )
                ),
            ),
        ),
        (
            12,
            lambda: Hostile(
                "random JSON",
                "POST",
                rng.choice(MESSAGE_PATHS),
                _json(json_tree(rng)),
            ),
        ),
        (
            10,
            lambda: Hostile(
                "malformed body", "POST", rng.choice(MESSAGE_PATHS), rng.choice(RAW_BODIES)
            ),
        ),
        (
            8,
            lambda: Hostile(
                "bad key",
                "POST",
                rng.choice(MESSAGE_PATHS),
                _json(VALID),
                key=rng.choice([None, "", "wrong", OPERATOR_KEY + "x", OPERATOR_KEY[:-1]]),
            ),
        ),
        (
            4,
            lambda: Hostile(
                "bad authorization header",
                "POST",
                "/v1/messages",
                _json(VALID),
                headers={
                    "Authorization": rng.choice(
                        [f"Basic {OPERATOR_KEY}", "Bearer", f"bearer  {OPERATOR_KEY} x", "\t"]
                    )
                },
                key=None,
            ),
        ),
        (
            4,
            lambda: Hostile(
                "send-only key operating",
                rng.choice(["GET", "POST"]),
                rng.choice(["/v1/dead-letters", "/v1/dead-letters/01ANY/replay", "/v1/dashboard"]),
                key=SENDER_KEY,
            ),
        ),
        (
            5,
            lambda: Hostile(
                "wrong media type",
                "POST",
                rng.choice(MESSAGE_PATHS),
                _json(VALID),
                headers={
                    "Content-Type": rng.choice(
                        ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
                    )
                },
            ),
        ),
        (
            5,
            lambda: Hostile(
                "wrong method",
                rng.choice(["GET", "PUT", "DELETE", "PATCH"]),
                rng.choice([*MESSAGE_PATHS, "/v1/dead-letters/01ANY/replay"]),
            ),
        ),
        (
            5,
            lambda: Hostile(
                "hostile id or path",
                "GET",
                rng.choice(
                    [
                        "/v1/messages/" + rng.choice(["..%2F..%2Fetc", "%00", "x" * 4000, "*"]),
                        "/v1/messages/" + "".join(rng.choices(string.ascii_letters, k=26)),
                        "/v1/../admin",
                        "/v1/messages/%E4%B8%AD",
                        "/nosuch/" + "a" * 300,
                    ]
                ),
            ),
        ),
        (
            3,
            lambda: Hostile(
                "hostile query",
                "GET",
                "/v1/dead-letters?"
                + rng.choice(
                    [
                        "limit=-1",
                        "limit=999999999999",
                        "offset=x",
                        "since=yesterday",
                        "provider=" + "x" * 2000,
                        "bogus=1",
                        "limit=1&limit=2",
                    ]
                ),
            ),
        ),
        (
            1,
            lambda: Hostile(
                "oversized body", "POST", "/v1/messages", b'{"body": "' + b"x" * 1_100_000 + b'"}'
            ),
        ),
    ]
    weights = [w for w, _ in makers]
    return [rng.choices(makers, weights)[0][1]() for _ in range(count)]


async def send_all(
    url: str, requests: list[Hostile], concurrency: int = 32
) -> list[tuple[int, bytes]]:
    """Send every request (``concurrency`` at a time); the status and body of each answer."""
    answers = [(0, b"")] * len(requests)
    gate = asyncio.Semaphore(concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one(index: int, request: Hostile) -> None:
            headers = {"Content-Type": "application/json", **request.headers}
            if request.key is not None:
                headers["Authorization"] = f"Bearer {request.key}"
            async with (
                gate,
                session.request(
                    request.method,
                    url + request.path,
                    data=None if request.body is None else io.BytesIO(request.body),
                    headers=headers,
                ) as answer,
            ):
                answers[index] = (answer.status, await answer.read())

        await asyncio.gather(*(one(i, r) for i, r in enumerate(requests)))
    return answers


def refused(path: str, status: int, body: bytes) -> bool:
    """A 4xx; or, for a batch, a 200 in which every message was refused."""
    if 400 <= status < 500:
        return True
    return path == "/v1/messages:batch" and status == 200 and json.loads(body)["accepted"] == 0


def test_ten_thousand_hostile_requests_are_only_refused(
    api_factory: ApiFactory, redis_client: redis.Redis
) -> None:
    """Every hostile request is refused with a 4xx (a batch of bad messages: 200 with none
    accepted), no message is recorded or queued, and a good message still gets through after."""
    # Keys with room for the whole run, so the requests meet validation, not the rate limit.
    unlimited = {"rate_limit": 1_000_000, "rate_burst": 1_000_000}
    keys = {
        "operator": {
            "sha256": key_digest(OPERATOR_KEY),
            "scopes": ["send", "operate"],
            **unlimited,
        },
        "webshop": {"sha256": key_digest(SENDER_KEY), **unlimited},
    }
    api = api_factory(api={"keys": keys})
    requests = hostile_requests(random.Random(SEED), REQUESTS)
    loop = LoopThread("fuzz-client")
    try:
        answers = loop.run(send_all(api.url, requests), timeout_s=300)
        recorded = redis_client.keys(f"{PREFIX}:msg:*")
        queued = [redis_client.llen(q) for q in ("sms.high", "sms.normal", "sms.bulk")]
        awaiting = redis_client.zcard(PENDING)
        after = loop.run(
            send_all(api.url, [Hostile("good", "POST", "/v1/messages", VALID_BODY)]), timeout_s=10
        )
    finally:
        loop.stop()

    wrong = Counter(
        (r.kind, status, body[:200])
        for r, (status, body) in zip(requests, answers, strict=True)
        if not refused(r.path, status, body)
    )
    assert not wrong, wrong
    assert (recorded, queued, awaiting) == ([], [0, 0, 0], 0)
    assert after[0][0] == 202, after  # and the API still takes a good message
    by_status = Counter(status for status, _ in answers)
    print(
        f"\nreliability: hostile input: {REQUESTS} requests, answers "
        f"{dict(sorted(by_status.items()))}; recorded and queued 0"
    )
