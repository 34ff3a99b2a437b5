"""One reader per store the reference reads (§sources); the accessor runs them off the loop."""
