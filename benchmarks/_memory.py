"""Memory figures of the running process, for the benchmarks' child processes."""

from __future__ import annotations


def status_kib(field: str) -> int | None:
    """A `/proc/self/status` figure in KiB (`VmHWM`: peak resident, `VmRSS`: resident now);
    None where there is no such file.

    Peak RSS is read here rather than from `ru_maxrss`: on Linux that survives fork+exec, so
    a child of a big parent would report the parent's peak."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None
