"""The name resolver of the status-callback session: public addresses only (see
:mod:`dispatcher.core.addresses` for which are public and why)."""

from __future__ import annotations

import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from dispatcher.core.addresses import is_public_address

__all__ = ["PublicOnlyResolver"]


class PublicOnlyResolver(AbstractResolver):
    """aiohttp's resolver, keeping only public addresses (none left: the connection fails)."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        public = [entry for entry in found if is_public_address(entry["host"])]
        if not public:
            raise OSError(f"{host} has no public address; callbacks go to public addresses only")
        return public

    async def close(self) -> None:
        await self._inner.close()
