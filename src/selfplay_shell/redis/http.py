"""`/metrics` and `/healthz` over HTTP, served by the standard library in a daemon thread.

The handler only calls the two functions it is given (each builds its answer from a fresh
`ServiceFacts`), so it never blocks the service's event loop.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["StatusServer"]

PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class StatusServer:
    """Serves `metrics()` as Prometheus text at `/metrics` and `healthz()` as JSON at
    `/healthz` (always status 200 while the process runs: a degraded replica still works, and
    the level and its reasons are in the JSON)."""

    def __init__(
        self,
        host: str,
        port: int,
        metrics: Callable[[], str],
        healthz: Callable[[], dict[str, Any]],
    ) -> None:
        routes: dict[str, Callable[[], tuple[str, bytes]]] = {
            "/metrics": lambda: (PROMETHEUS_TYPE, metrics().encode()),
            "/healthz": lambda: ("application/json", json.dumps(healthz()).encode()),
        }

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                route = routes.get(self.path.split("?", 1)[0])
                if route is None:
                    self.send_error(404, "try /metrics or /healthz")
                    return
                content_type, body = route()
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # requests are not worth a log line each

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="selfplay-status-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
