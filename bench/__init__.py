"""Benchmarks of SPEC §13, run by hand (``python -m bench.fanout``), never by the test suite."""
