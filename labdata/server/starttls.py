"""STARTTLS without the lost ClientHello: a fix of mysql-mimic 3.0.5's ``MysqlStream.start_tls``.

A MySQL client sends its SSL request and, without waiting for an answer, the first bytes of its TLS handshake.
When both arrive together, asyncio's StreamReader has read the TLS bytes into its buffer by the time
mysql-mimic hands the transport to ``loop.start_tls``; the TLS layer never sees them and the handshake waits
until its 60 s timeout (about half of the handshakes, measured: 40 pymysql connections). :class:`TlsSafeStream`
wraps a connection's stream and gives those buffered bytes to the TLS layer. :class:`TlsSafeControl` (the
server's connection registry) puts the wrapper in place as each connection is registered, before its handshake.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from mysql_mimic.control import LocalControl

__all__ = ["TlsSafeControl", "TlsSafeStream"]


class TlsSafeStream:
    """A mysql-mimic stream whose :meth:`start_tls` hands already-read TLS bytes to the TLS layer."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    async def start_tls(self, context: ssl.SSLContext) -> None:
        """Upgrade the connection to TLS (server side), as ``MysqlStream.start_tls`` does."""
        reader, writer = self._stream.reader, self._stream.writer
        early = bytes(reader._buffer)  # the client's TLS bytes that came with its SSL request
        reader._buffer.clear()
        transport = writer.transport
        plain = transport.get_protocol()
        handshake = asyncio.ensure_future(
            asyncio.get_running_loop().start_tls(transport, plain, context, server_side=True))
        if early:
            while transport.get_protocol() is plain and not handshake.done():
                await asyncio.sleep(0)  # start_tls puts its TLS protocol in place
            await asyncio.sleep(0)  # and its connection_made (scheduled then) has run
            tls = transport.get_protocol()
            buffer = tls.get_buffer(len(early))
            buffer[:len(early)] = early
            tls.buffer_updated(len(early))
        secured = await handshake
        writer._transport = secured
        reader._transport = secured


class TlsSafeControl(LocalControl):
    """mysql-mimic's connection registry, wrapping each new connection's stream in :class:`TlsSafeStream`."""

    async def add(self, connection: Any) -> int:
        connection.stream = TlsSafeStream(connection.stream)
        return int(await super().add(connection))
