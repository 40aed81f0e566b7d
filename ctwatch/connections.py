"""HTTP connections a deadline can cut: a watchdog shuts the socket of the request in hand
down when its deadline passes (see :mod:`ctwatch.transport`), which ends the read under way
at once, whatever it waits for — a status line, a header, a chunk size or the body."""

from __future__ import annotations

import contextlib
import socket
import threading
from contextvars import ContextVar, Token
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, ProxyManager
from urllib3.connection import HTTPConnection, HTTPSConnection

from ctwatch import urls


def session_for(url: str) -> requests.Session:
    """A session for requests to ``url`` whose sockets the deadline watches; for a URL on this
    machine (tests, the demo) it ignores proxies from the environment, which cannot reach it."""
    session = requests.Session()
    for prefix in ("http://", "https://"):
        session.mount(prefix, _Adapter())
    if _loopback(url):
        session.trust_env = False
    return session


def _loopback(url: str) -> bool:
    parts = urls.split(url)
    host = (parts.hostname or "") if parts else ""
    return host == "localhost" or host.startswith("127.") or host == "::1"


class Watchdog:
    """Shuts the socket of the request in hand down when its deadline passes, from a timer's
    thread: the read under way ends at once (an end of file, or a reset), whatever it waits
    for. ``fired`` then tells the request why its reply ended."""

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._timer = threading.Timer(max(0.0, seconds), self._fire)
        self._timer.daemon = True  # never holds the interpreter's exit
        self._token: Token[Watchdog | None] | None = None

    def __enter__(self) -> Watchdog:
        self._token = _WATCHDOG.set(self)
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()
        with self._lock:
            self._sock = None  # a connection kept alive may serve the next request
        if self._token is not None:
            _WATCHDOG.reset(self._token)

    def watch(self, sock: socket.socket) -> None:
        """The socket a request is sent on (each hop of a redirect has its own)."""
        with self._lock:
            self._sock = sock
            if self.fired:
                _shut(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            if self._sock is not None:
                _shut(self._sock)


# The watchdog of the request in hand, for the connection that sends it (a context variable:
# each thread has its own; urllib3 offers no way to hand a connection anything per request).
_WATCHDOG: ContextVar[Watchdog | None] = ContextVar("ctwatch_watchdog", default=None)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # closed already: nothing reads from it
        # socket.socket's own shutdown, for a TLS socket too: SSLSocket.shutdown would first
        # drop the TLS state that the reading thread is using.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watched:
    """A urllib3 connection that shows its socket to the watchdog of the request in hand."""

    sock: socket.socket | None

    def request(self, *args: Any, **kwargs: Any) -> None:
        watchdog = _WATCHDOG.get()
        if watchdog is not None:
            if self.sock is None:
                self.connect()  # type: ignore[attr-defined]  # as sending would; first, to watch
            if self.sock is not None:
                watchdog.watch(self.sock)
        super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_Watched, HTTPConnection):  # type: ignore[misc]
    pass


class _HTTPSConnection(_Watched, HTTPSConnection):  # type: ignore[misc]
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class _Adapter(HTTPAdapter):
    """requests' adapter, with watched connections (to a proxy too, but SOCKS)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        if isinstance(manager, ProxyManager):  # a SOCKS proxy's pools have their own classes
            manager.pool_classes_by_scheme = _POOLS
        return manager
