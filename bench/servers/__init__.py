"""The servers a benchmark measures (ours, with its bench-only routes) and the baselines it measures them
against, each run as a subprocess."""
