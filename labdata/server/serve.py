"""Running the facade: ``labdata serve`` in the foreground, or a server in a background thread (tests, notebooks).

Examples
--------
>>> server = FacadeServer(Facade(lake), port=0).start()          # doctest: +SKIP
>>> server.port                                                    # doctest: +SKIP
40213
>>> server.stop()                                                  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from pathlib import Path
from typing import Any

from mysql_mimic import MysqlServer
from mysql_mimic.constants import KillKind

from labdata.core.errors import ConfigError
from labdata.server.facade import Facade
from labdata.server.session import FacadeIdentity, FacadeSession, register_sql_states
from labdata.server.starttls import TlsSafeControl

__all__ = ["FacadeServer", "tls_context"]


def tls_context(certificate: str | Path, key: str | Path) -> ssl.SSLContext:
    """A server TLS context from a PEM certificate and its key.

    Raises
    ------
    ConfigError
        When either cannot be read.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(str(certificate), str(key))
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(f"Cannot load the TLS certificate {certificate} with key {key}: {error}",
                          hint="Set server.certificate and server.key to PEM files the server can read.") from error
    return context


class FacadeServer:
    """A MySQL-wire server over a :class:`Facade` on ``host:port`` (port 0: a free one).

    Parameters
    ----------
    facade : Facade
        What the server serves.
    host, port : str, int
        Where it listens.
    tls : ssl.SSLContext, optional
        Offer TLS (clients that ask for it get it).
    """

    def __init__(self, facade: Facade, *, host: str = "127.0.0.1", port: int = 3306,
                 tls: ssl.SSLContext | None = None) -> None:
        self.facade, self.host, self.port, self.tls = facade, host, port, tls
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: MysqlServer | None = None

    def _mysql_server(self) -> MysqlServer:
        register_sql_states()
        return MysqlServer(session_factory=lambda: FacadeSession(self.facade),
                           identity_provider=FacadeIdentity(self.facade), ssl=self.tls, control=TlsSafeControl())

    async def _start(self) -> None:
        self._server = self._mysql_server()
        await self._server.start_server(host=self.host, port=self.port)
        sockets: Any = self._server._server.sockets if self._server._server else []
        if sockets:
            self.port = sockets[0].getsockname()[1]

    def serve_forever(self) -> None:
        """Serve until interrupted (Ctrl-C)."""
        async def run() -> None:
            await self._start()
            assert self._server is not None
            await self._server.serve_forever()

        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run())

    def start(self) -> FacadeServer:
        """Serve from a background thread; return once listening (``port`` is then the real one)."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            try:
                self._loop.run_until_complete(self._start())
            except BaseException as error:  # reported to the caller of start()
                failure.append(error)
                ready.set()
                return
            ready.set()
            try:
                self._loop.run_forever()
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=run, name="labdata-facade", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        if self._loop is None or self._server is None:
            return
        server, loop = self._server, self._loop

        async def close() -> None:
            server.close()
            for connection_id in list(self.facade.sessions):  # KILL CONNECTION, as an admin would
                await server.control.kill(connection_id, KillKind.CONNECTION)
            others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            await asyncio.wait(others, timeout=5) if others else None
            await server.wait_closed()
            loop.stop()

        asyncio.run_coroutine_threadsafe(close(), loop)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> FacadeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
