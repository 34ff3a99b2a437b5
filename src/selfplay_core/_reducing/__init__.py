"""The reducer's handlers, one module per event family (see `selfplay_core.reducer`)."""
