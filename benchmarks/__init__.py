"""Benchmarks: `python -m benchmarks.foundation` (see RESULTS.md)."""
