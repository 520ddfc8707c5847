"""Live windows and live aggregates at fan-out, beside the plain fan-out.

    .venv/bin/python -m bench.live_views --help

The benchmark itself is bench/scenarios/live_views.py; its report, bench/report/live_views.py.
"""

import sys

from bench.scenarios.live_views import main

if __name__ == "__main__":
    sys.exit(main())
