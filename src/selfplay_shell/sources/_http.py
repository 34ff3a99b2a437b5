"""An HTTP GET with a total deadline (runs in a worker thread).

A socket timeout bounds each read, not the request: a server that trickles one byte every
second never trips it. Here the whole exchange is bounded: connecting uses the time left,
and a watchdog shuts the socket down when the deadline passes, which ends a read in
progress at once (the read sees the end of the stream). The connection goes directly to the
URL's host (no proxy, no redirects: a cluster's own status endpoint needs neither).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
import urllib.parse

from selfplay_shell.sources.errors import SourceFailure

__all__ = ["MAX_RESPONSE_BYTES", "http_get"]

MAX_RESPONSE_BYTES = 16 * 1024 * 1024


def http_get(
    url: str,
    *,
    deadline: float,
    accept: str = "application/json",
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> bytes:
    """The body of a 2xx answer to `GET url`, received before `deadline` (`time.monotonic()`).

    Failures leave as `SourceFailure`: kind `timeout` when the deadline passed (whatever the
    server was doing), `http` otherwise (refused, an error status, a body over `max_bytes`).
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SourceFailure("http", "not an http(s) URL", url)
    budget = deadline - time.monotonic()
    connection = _connection(parts, _time_left(deadline, budget, url))
    timed_out = threading.Event()
    try:
        try:
            connection.connect()  # bounded by the socket timeout: the time left
        except TimeoutError as exc:
            raise _timeout(budget, url) from exc
        except OSError as exc:
            raise SourceFailure("http", f"cannot connect: {exc}", url) from exc
        watchdog = threading.Timer(
            _time_left(deadline, budget, url), _cut, (connection.sock, timed_out)
        )
        watchdog.name = "selfplay-http-deadline"
        watchdog.daemon = True
        watchdog.start()
        try:
            status, reason, body = _exchange(connection, parts, accept, max_bytes)
        except (OSError, http.client.HTTPException) as exc:
            if timed_out.is_set() or isinstance(exc, TimeoutError | socket.timeout):
                raise _timeout(budget, url) from exc
            raise SourceFailure("http", f"connection failed: {exc}", url) from exc
        finally:
            watchdog.cancel()
    finally:
        connection.close()
    if timed_out.is_set():  # the shutdown may read as a clean end of a short body
        raise _timeout(budget, url)
    if not 200 <= status < 300:
        raise SourceFailure("http", f"HTTP {status} {reason}", url)
    if len(body) > max_bytes:
        raise SourceFailure("http", f"response is over {max_bytes} bytes", url)
    return body


def _connection(parts: urllib.parse.SplitResult, timeout: float) -> http.client.HTTPConnection:
    host = parts.hostname or ""
    if parts.scheme == "https":
        context = ssl.create_default_context()
        return http.client.HTTPSConnection(host, parts.port, timeout=timeout, context=context)
    return http.client.HTTPConnection(host, parts.port, timeout=timeout)


def _exchange(
    connection: http.client.HTTPConnection,
    parts: urllib.parse.SplitResult,
    accept: str,
    max_bytes: int,
) -> tuple[int, str, bytes]:
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection.request("GET", target, headers={"Accept": accept})
    response = connection.getresponse()
    return response.status, response.reason, response.read(max_bytes + 1)


def _cut(sock: socket.socket | None, timed_out: threading.Event) -> None:
    """The deadline passed: end whatever read is in progress on `sock`."""
    timed_out.set()
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _time_left(deadline: float, budget: float, url: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _timeout(budget, url)
    return left


def _timeout(budget: float, url: str) -> SourceFailure:
    return SourceFailure("timeout", f"no complete answer within {max(budget, 0.0):.2f} s", url)
