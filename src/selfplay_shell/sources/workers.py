"""`ReadWorkers`: the accessor's worker threads, which never hold up the process's exit.

`concurrent.futures.ThreadPoolExecutor` joins its workers when the interpreter exits, so one
read stuck in the kernel (a hung mount, a DNS lookup that never answers) keeps a finished
program alive. Every reader has a total deadline (`ReadContext.deadline`) and stops at it;
these threads are daemons as well, so even a read that cannot be interrupted does not delay
the exit. At most `max_workers` reads run at once; each call gets its own thread (the
accessor makes a few reads a second at most, so a pool would save nothing).
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

__all__ = ["ReadWorkers"]

P = ParamSpec("P")
T = TypeVar("T")


class ReadWorkers(concurrent.futures.Executor):
    """An executor of daemon threads, at most `max_workers` running at once."""

    def __init__(self, max_workers: int, name: str = "selfplay-accessor") -> None:
        if max_workers <= 0:
            raise ValueError("max_workers must be positive")
        self._slots = threading.BoundedSemaphore(max_workers)
        self._name = name
        self._lock = threading.Lock()
        self._started = 0
        self._threads: set[threading.Thread] = set()
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._shut = False

    def submit(
        self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            if self._shut:
                raise RuntimeError("cannot schedule new reads after shutdown")
            self._started += 1
            thread = threading.Thread(
                target=self._run,
                args=(future, lambda: fn(*args, **kwargs)),
                name=f"{self._name}_{self._started}",
                daemon=True,
            )
            self._threads.add(thread)
            self._pending.add(future)
        thread.start()
        return future

    def _run(self, future: concurrent.futures.Future[T], call: Callable[[], T]) -> None:
        try:
            with self._slots:
                with self._lock:
                    self._pending.discard(future)
                if not future.set_running_or_notify_cancel():
                    return
                try:
                    result = call()
                except BaseException as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No new reads; `cancel_futures` cancels those not started; `wait` joins the rest
        (each ends by its read's deadline)."""
        with self._lock:
            self._shut = True
            pending = list(self._pending) if cancel_futures else []
            threads = list(self._threads)
        for future in pending:
            future.cancel()
        if wait:
            for thread in threads:
                thread.join()

    @property
    def running(self) -> int:
        """How many worker threads are alive (reading, or waiting for a slot)."""
        with self._lock:
            return len(self._threads)

    def join(self, timeout: float | None = None) -> bool:
        """Wait up to `timeout` seconds for every worker to end; whether they all did."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)
        return not any(thread.is_alive() for thread in threads)
