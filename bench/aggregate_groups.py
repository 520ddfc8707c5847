"""Many live aggregate groups on one connection, beside none.

    .venv/bin/python -m bench.aggregate_groups --help

The benchmark itself is bench/scenarios/aggregate_groups.py; its report, bench/report/aggregate_groups.py.
"""

import sys

from bench.scenarios.aggregate_groups import main

if __name__ == "__main__":
    sys.exit(main())
