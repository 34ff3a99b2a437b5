"""One reader per store the reference reads (sources.md); the accessor runs them off the loop."""
