"""Serving the app with uvicorn, hardened for connections that never finish a request: the socket
is bound first (a busy port is one clear BusyError before any URL is printed), and every
connection must deliver a request's headers within `header_timeout_s` of opening (or of its
previous response), so idle and half-sent connections are closed instead of holding a slot."""

from __future__ import annotations

import socket
from typing import Any

from ..errors import BusyError, ConfigError

__all__ = ["bind", "serve", "HeaderTimeoutProtocol", "url_of"]


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); port 0 picks a free one. BusyError (exit 7) when
    the port is taken, ConfigError for an address this machine does not have."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise ConfigError(f"--host {host}: not an address here ({e.strerror})") from None
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        import errno

        if e.errno == errno.EADDRINUSE:
            raise BusyError(
                f"port {port} on {host} is in use by another program; choose another --port "
                "(0: any free one)"
            ) from None
        raise ConfigError(f"cannot listen on {host}:{port} ({e.strerror or e})") from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    """http://host:port/ of a bound socket."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def serve(
    app: Any,
    sock: socket.socket,
    *,
    header_timeout_s: float = 10.0,
    keep_alive_s: int = 5,
    log_level: str = "warning",
    limit_concurrency: int | None = 1000,
) -> None:
    """Run uvicorn on `sock` until stopped (Ctrl-C or SIGTERM). `limit_concurrency` caps open
    connections (503 beyond); idle ones cannot starve others, as they close after
    `header_timeout_s`."""
    import uvicorn

    protocol = type(
        "FacepointsHTTP", (HeaderTimeoutProtocol,), {"header_timeout_s": float(header_timeout_s)}
    )
    config = uvicorn.Config(
        app,
        http=protocol,
        ws="none",
        lifespan="on",
        log_level=log_level,
        limit_concurrency=limit_concurrency,
        timeout_keep_alive=keep_alive_s,
        server_header=False,
        h11_max_incomplete_event_size=16 * 1024,  # headers larger than this: 400
    )
    _big_blocks_from_the_system()
    import gc

    gc.collect()
    gc.freeze()  # the model and libraries: later collections (after large uploads) skip them
    uvicorn.Server(config).run(sockets=[sock])


def _big_blocks_from_the_system(threshold: int = 1 << 20) -> None:
    """glibc: serve blocks over `threshold` bytes (upload bodies, decoded images) by mmap, so a
    freed one goes back to the system at once instead of staying in a fragmented heap (glibc
    otherwise raises this threshold to 32 MB after the first large free)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, int(threshold))  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass  # not glibc: its allocator has its own policy


def _h11_protocol():
    from uvicorn.protocols.http.h11_impl import H11Protocol

    return H11Protocol


class HeaderTimeoutProtocol(_h11_protocol()):  # type: ignore[misc]
    """uvicorn's h11 protocol with a deadline for a request's headers: armed when the connection
    opens and after each response, cleared when a request's headers have arrived."""

    header_timeout_s = 10.0

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and not self.cycle.response_complete:
            self._clear_header_deadline()  # headers in: the app's own limits take over

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_deadline()

    def connection_lost(self, exc) -> None:
        self._clear_header_deadline()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        self._clear_header_deadline()
        self._header_deadline = self.loop.call_later(self.header_timeout_s, self._header_timeout)

    def _clear_header_deadline(self) -> None:
        handle = getattr(self, "_header_deadline", None)
        if handle is not None:
            handle.cancel()
            self._header_deadline = None

    def _header_timeout(self) -> None:
        self._header_deadline = None
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request in progress
        if not self.transport.is_closing():
            self.transport.close()
