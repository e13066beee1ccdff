"""Run the service: bind the socket, start uvicorn, drain on SIGTERM/SIGINT.

The socket is bound here (not by uvicorn) so that ``--port 0`` works: the line
``cdacheck serve: listening on http://HOST:PORT`` on standard error gives the real port.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from cdacheck.service.app import Service, ServiceConfig


def http_protocol() -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol (a C parser) when httptools is installed, else h11.

    h11 is pure Python: parsing the request and writing the answer with it took about 40 %
    of the server process's CPU per request (profiled), on cores the workers need."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools absent: uvicorn's module imports it
        return H11Protocol
    return HttpToolsProtocol


def _guarded_protocol(header_timeout: float,
                      base: type[asyncio.Protocol] = H11Protocol) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol ``base``, closing connections whose request headers come too slowly.

    uvicorn bounds idle keep-alive connections but not a request that trickles in (one
    byte a second): such a connection is closed once ``header_timeout`` has passed without
    complete headers. A slow *body* is bounded by the application (HTTP 408).
    """

    class GuardedProtocol(base):  # type: ignore[valid-type, misc]
        _guard: Any = None

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            set_nodelay(transport.get_extra_info("socket"))
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._guard = self.loop.call_later(header_timeout, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._guard is not None:
                self._guard.cancel()
                self._guard = None

        def _headers_too_slow(self) -> None:
            self._guard = None
            waiting_for_headers = self.cycle is None or self.cycle.response_complete
            if waiting_for_headers and not self.transport.is_closing():
                if isinstance(getattr(self, "conn", None), h11.Connection):
                    try:
                        self.conn.send(h11.ConnectionClosed())
                    except h11.LocalProtocolError:
                        pass
                self.transport.close()

    return GuardedProtocol


def set_nodelay(sock: Any) -> None:
    """TCP_NODELAY on an accepted connection: its response leaves at once.

    uvicorn writes a response's head and body in two writes; with Nagle's algorithm the
    body waits for the client's (delayed, about 40 ms) ACK of the head. asyncio sets the
    option itself only on sockets whose ``proto`` is IPPROTO_TCP, which a socket built
    with ``socket.socket(family, SOCK_STREAM)`` (proto 0) and its accepted ones are not.
    """
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # the connection is already gone
            pass


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio then sets TCP_NODELAY on every accepted connection
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def serve(config: ServiceConfig, host: str = "127.0.0.1", port: int = 8080,
          log_level: str = "info") -> int:
    """Serve until SIGTERM/SIGINT; 0 after a clean drain, 2 when the workers cannot start."""
    logging.basicConfig(stream=sys.stderr, level=log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sock = bind(host, port)
    fatal: list[str] = []
    server: uvicorn.Server | None = None

    def on_fatal(message: str) -> None:
        fatal.append(message)
        if server is not None:
            server.should_exit = True

    service = Service(config, on_fatal=on_fatal)
    uconfig = uvicorn.Config(service.app(), log_config=None, access_log=False, lifespan="on",
                             loop="asyncio",
                             http=_guarded_protocol(config.read_timeout, http_protocol()),
                             # idle keep-alive connections are closed by the guard after
                             # read_timeout; clients (5 s usually) let go first
                             timeout_keep_alive=int(config.read_timeout) + 5,
                             timeout_graceful_shutdown=int(config.timeout) + 5)
    server = uvicorn.Server(uconfig)
    where = f"[{host}]" if ":" in host else host
    print(f"cdacheck serve: listening on http://{where}:{sock.getsockname()[1]} "
          f"({config.workers} worker(s), warming up; see /readyz)", file=sys.stderr, flush=True)
    # uvicorn drains on SIGTERM/SIGINT, then raises the signal again with the handlers it
    # found: with these no-op handlers a clean drain ends with exit code 0, not "killed".
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    server.run(sockets=[sock])
    if fatal:
        print(f"cdacheck: erreur : les processus de vérification ne démarrent pas : {fatal[0]}",
              file=sys.stderr)
        return 2
    return 0
