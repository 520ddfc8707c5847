"""Benchmarks against the performance targets of docs/benchmarks.md, run by hand
(``python -m bench.fanout``), never by the test suite."""
