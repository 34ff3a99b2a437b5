"""`python -m selfplay_shell.cli`: the same command as `selfplay-scheduler`."""

from selfplay_shell.cli import main

raise SystemExit(main())
