"""Nirvana's benchmark: `make bench` (or `python -m bench --help`).
See docs/performance.md, Benchmarks."""
