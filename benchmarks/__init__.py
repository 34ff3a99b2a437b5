"""Benchmarks: each `bench_*.py` module here has `run() -> dict[str, object]`; see `__main__`."""
