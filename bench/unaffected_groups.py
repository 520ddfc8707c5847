"""Many live windows or aggregates a write cannot affect, beside none, at two revisions.

    .venv/bin/python -m bench.unaffected_groups --help

The benchmark itself is bench/scenarios/unaffected_groups.py; its report, bench/report/unaffected_groups.py.
"""

import sys

from bench.scenarios.unaffected_groups import main

if __name__ == "__main__":
    sys.exit(main())
