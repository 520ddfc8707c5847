"""The benchmarks themselves, one module each; the top-level ``bench.<name>`` modules are their commands."""
