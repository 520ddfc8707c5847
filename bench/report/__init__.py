"""What a benchmark leaves: its tables, its PNG and its section of docs/benchmarks.md."""
