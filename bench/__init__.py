"""Nirvana's benchmark: `make bench` (or `python -m bench --help`). See README, Benchmarks."""
