"""What /readyz and stats say of Redis's memory."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dispatcher.store.redis_memory import RedisMemory

POLICIES = st.sampled_from(
    ["noeviction", "allkeys-lru", "allkeys-lfu", "volatile-lru", "volatile-ttl", "allkeys-random"]
)


def test_full_under_noeviction_says_new_messages_are_refused() -> None:
    memory = RedisMemory(used_bytes=65_000_000, max_bytes=64_000_000, policy="noeviction")
    assert memory.full
    assert memory.problem() == (
        "Redis is out of memory (65.0 MB of maxmemory 64.0 MB, noeviction): new messages are "
        "refused and sends cannot be recorded until memory is freed"
    )
    assert memory.as_dict()["full"] is True


def test_an_evicting_policy_is_named_full_or_not() -> None:
    memory = RedisMemory(used_bytes=1_000, max_bytes=64_000_000, policy="allkeys-lru")
    assert not memory.full
    assert "message records can be lost; use noeviction" in str(memory.problem())


@given(used=st.integers(0, 10**10), limit=st.integers(0, 10**10), policy=POLICIES)
def test_full_only_at_or_past_a_limit(used: int, limit: int, policy: str) -> None:
    memory = RedisMemory(used_bytes=used, max_bytes=limit, policy=policy)
    assert memory.full == (limit > 0 and used >= limit)
    if limit == 0 or (policy == "noeviction" and not memory.full):
        assert memory.problem() is None  # no limit, or room left: nothing to say
    else:
        assert memory.problem() is not None
