"""Benchmarks: one script per figure, `python -m benchmarks.NAME` from the repo root. See README.md."""
