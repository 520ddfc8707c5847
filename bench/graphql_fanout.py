"""GraphQL fan-out against the baseline and a naive strawberry server.

    .venv/bin/python -m bench.graphql_fanout --help

The benchmark itself is bench/scenarios/graphql_fanout.py; its report, bench/report/graphql_fanout.py.
"""

import sys

from bench.scenarios.graphql_fanout import main

if __name__ == "__main__":
    sys.exit(main())
