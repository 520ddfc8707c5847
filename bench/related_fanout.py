"""A parent rename fanned out to N dependent subscriptions in K groups, beside an ordinary write.

    .venv/bin/python -m bench.related_fanout --help

The benchmark itself is bench/scenarios/related_fanout.py; its report, bench/report/related_fanout.py.
"""

import sys

from bench.scenarios.related_fanout import main

if __name__ == "__main__":
    sys.exit(main())
