"""Where status callbacks may go: the public-address rules, at the door and after DNS."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from dispatcher.core.addresses import callback_host_problem, is_public_address
from dispatcher.sending.public_resolver import PublicOnlyResolver


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),
        ("127.0.0.1", False),
        ("127.9.9.9", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # shared address space
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("[::1]", False),
        ("fe80::1%eth0", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4 loopback mapped into IPv6
        ("::ffff:10.0.0.1", False),
        ("not an address", False),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    """Only globally routable unicast addresses count as public."""
    assert is_public_address(address) is public


@pytest.mark.parametrize(
    ("host", "refused"),
    [
        ("hooks.example.com", False),
        ("93.184.215.14", False),
        ("localhost", True),
        ("LOCALHOST.", True),
        ("api.localhost", True),
        ("127.0.0.1", True),
        ("::1", True),
        ("169.254.169.254", True),
        ("10.0.0.7", True),
    ],
)
def test_callback_hosts_at_the_door(host: str, refused: bool) -> None:
    """A name is judged after DNS, at posting; localhost and private literals at once."""
    assert (callback_host_problem(host) is not None) is refused


class _Answers(AbstractResolver):
    """A resolver that answers every name with fixed addresses."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=a, port=port, family=family, proto=0, flags=0)
            for a in self.addresses
        ]

    async def close(self) -> None:
        return None


def test_resolver_keeps_only_public_addresses() -> None:
    """A name with a public and a private address connects to the public one only; a name with
    only private addresses is not connected to at all."""
    mixed = PublicOnlyResolver(_Answers("10.0.0.5", "93.184.215.14"))
    found = asyncio.run(mixed.resolve("hooks.example.com", 443))
    assert [entry["host"] for entry in found] == ["93.184.215.14"]
    private = PublicOnlyResolver(_Answers("127.0.0.1", "169.254.169.254"))
    with pytest.raises(OSError, match="no public address"):
        asyncio.run(private.resolve("rebound.example.com", 80))
