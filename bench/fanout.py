"""Plain WebSocket fan-out against the baseline; with ``--broker``, cross-process fan-out.

    .venv/bin/python -m bench.fanout --help

The benchmark itself is bench/scenarios/fanout.py (``--broker``: crossprocess.py); its reports,
bench/report/fanout.py and crossprocess.py.
"""

import sys

from bench.scenarios.fanout import main

if __name__ == "__main__":
    sys.exit(main())
