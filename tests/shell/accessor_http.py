"""A real local cluster-status server (stdlib http.server on 127.0.0.1, port 0) for the tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs


@attrs.define
class StatusBehaviour:
    """What the server does next: answer `payload`, sleep first, fail with 500, or send junk."""

    payload: Any = None
    mode: str = "ok"  # ok | sleep | error | junk
    sleep_seconds: float = 1.0
    requests: int = 0


@contextmanager
def status_server(behaviour: StatusBehaviour) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            behaviour.requests += 1
            if behaviour.mode == "sleep":
                time.sleep(behaviour.sleep_seconds)
            if behaviour.mode == "error":
                body, code = b'{"success": false, "error": "leader election"}', 500
            elif behaviour.mode == "junk":
                body, code = b"<html>not json</html>", 200
            else:
                body, code = json.dumps(behaviour.payload).encode(), 200
            try:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the client gave up (timeout test)
                pass

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/cluster/status"
    finally:
        server.shutdown()
        server.server_close()
