"""Event logs: an append-only JSON Lines writer and a streaming, reporting reader."""
