"""Benchmarks against the performance targets of docs/benchmarks.md, run by hand, never by the test suite.

The commands are the top-level modules, each a few lines handing over to its scenario::

    python -m bench.fanout            plain WebSocket fan-out (``--broker``: cross-process)
    python -m bench.graphql_fanout    GraphQL fan-out
    python -m bench.live_views        live windows and aggregates at fan-out
    python -m bench.write_throughput  write rates with realtime off and on
    python -m bench.aggregate_groups  many live aggregate groups on one connection

The rest, by role (each package imports only those listed before it):

- ``common``: this machine (the one host, /proc accounting, limits, the progress log) and the mode the
  servers are used in (``Realism``: JWT, GraphQL writes, deflate offers);
- ``servers``: the server under test with its bench-only routes, the baselines, the subprocess each runs in;
- ``load``: the load-generator processes and the minimal WebSocket and HTTP clients they use;
- ``runs``: one measured run — the burst, the writers, the results, py-spy profiles;
- ``report``: the one renderer (tables, sections of docs/benchmarks.md, plots) and each benchmark's report,
  reduced to what differs: its columns, readings and words;
- ``scenarios``: each benchmark (what it runs, its options) and the command they share.
"""
