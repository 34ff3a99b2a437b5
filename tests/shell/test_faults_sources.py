"""Fault injection on the data sources: a status endpoint that trickles one byte at a time (a
real loopback HTTP server in its own process), and a store whose read never returns (a FIFO).

What must hold: every read ends at its total deadline with a `timeout` failure, no worker
thread outlives `close()` beyond that deadline, and a process that is done exits promptly
instead of waiting for a stuck read. Bounds here are generous limits on a hang, never
measurements of speed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from accessor_stores import build_all

from selfplay_shell import SelfplayDataAccessor
from selfplay_shell.sources._http import http_get
from selfplay_shell.sources.config import AccessorConfig
from selfplay_shell.sources.errors import SourceFailure

SRC = Path(__file__).resolve().parents[2] / "src"
TESTS = Path(__file__).resolve().parent

SERVER = textwrap.dedent(
    """
    import sys, time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Trickle(BaseHTTPRequestHandler):
        def do_GET(self):
            try:
                if self.path.startswith("/headers"):  # the status line itself, byte by byte
                    for byte in b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\n{}":
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(0.2)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "100000")
                self.end_headers()
                self.wfile.write(b'{"peers": [')
                for _ in range(100000):  # about five hours at this pace
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass  # the client hung up

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()
    """
)


@contextmanager
def trickling_server() -> Iterator[int]:
    """A server process answering every request one byte every 0.2 s; yields its port."""
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        yield int(server.stdout.readline())
    finally:
        server.kill()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()


def accessor_workers_end(bound: float = 30.0) -> bool:
    """Whether every accessor worker thread has ended, waiting at most `bound` seconds."""
    for thread in threading.enumerate():
        if thread.name.startswith("selfplay-"):
            thread.join(bound)
    return not any(t.name.startswith("selfplay-") for t in threading.enumerate())


@pytest.mark.parametrize("where", ["body", "headers"])
def test_http_get_ends_a_trickling_answer_at_its_deadline(where: str) -> None:
    with trickling_server() as port:
        url = f"http://127.0.0.1:{port}/{where}"
        with pytest.raises(SourceFailure) as raised:
            http_get(url, deadline=time.monotonic() + 0.8)
    assert raised.value.kind == "timeout"
    assert raised.value.detail.startswith("no complete answer within 0.8")
    assert accessor_workers_end()  # the watchdog timer thread is gone too


@pytest.mark.slow
@pytest.mark.parametrize("where", ["body", "headers"])
async def test_a_trickling_status_endpoint_times_out_and_leaves_no_worker(
    tmp_path: Path, where: str
) -> None:
    build_all(tmp_path)
    with trickling_server() as port:
        config = AccessorConfig(
            cluster_status_url=f"http://127.0.0.1:{port}/{where}",
            source_timeouts={"cluster_status": 1.0},
            http_timeout_seconds=30.0,  # the total deadline is the source's 1 s
        )
        accessor = SelfplayDataAccessor(tmp_path, config=config)
        snapshot = await accessor.refresh()
        accessor.close()
        assert snapshot.failures["cluster_status"].startswith("timeout:")
        assert set(snapshot.failures) == {"cluster_status"}  # the others were not held up
        assert snapshot.nodes is not None  # the inventory still came through
        # The read ended at its deadline while the server was still trickling.
        assert accessor_workers_end()


CLIENT = textwrap.dedent(
    """
    import asyncio, sys
    from selfplay_shell import SelfplayDataAccessor
    from selfplay_shell.sources.config import AccessorConfig

    root, url, close = sys.argv[1], sys.argv[2], sys.argv[3] == "close"
    config = AccessorConfig(cluster_status_url=url or None, source_timeout_seconds=1.0)

    async def main():
        accessor = SelfplayDataAccessor(root, config=config)
        snapshot = await accessor.refresh()
        print(sorted(snapshot.failures.items()), flush=True)
        if close:
            accessor.close()

    asyncio.run(main())
    """
)


def run_client(root: Path, url: str, close: bool) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(TESTS)])}
    return subprocess.run(
        [sys.executable, "-c", CLIENT, str(root), url, "close" if close else "leave"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,  # a stuck read used to hold the exit for as long as the server trickled
    )


@pytest.mark.slow
@pytest.mark.parametrize("close", [True, False])
def test_process_exit_never_waits_for_a_trickling_read(tmp_path: Path, close: bool) -> None:
    build_all(tmp_path)
    with trickling_server() as port:
        done = run_client(tmp_path, f"http://127.0.0.1:{port}/body", close)
    assert done.returncode == 0, done.stderr
    assert "('cluster_status', 'timeout:" in done.stdout


@pytest.mark.slow
def test_process_exit_never_waits_for_a_read_that_never_returns(tmp_path: Path) -> None:
    # A FIFO where the improvement optimiser's state should be: opening it blocks until a
    # writer comes, which never happens. No deadline can interrupt that in the thread; the
    # exit still must not wait for it.
    build_all(tmp_path)
    state = tmp_path / "logs" / "improvement_optimizer_state.json"
    state.unlink()
    os.mkfifo(state)
    done = run_client(tmp_path, "", close=True)
    assert done.returncode == 0, done.stderr
    assert "('improvement', 'timeout:" in done.stdout
