"""selfplay_shell: the imperative shell (files, databases, sockets, clock, timers)."""

__all__: list[str] = []
