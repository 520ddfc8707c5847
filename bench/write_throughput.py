"""Write throughput with realtime off and on.

    .venv/bin/python -m bench.write_throughput --help

The benchmark itself is bench/scenarios/write_throughput.py; its report, bench/report/write_throughput.py.
"""

import sys

from bench.scenarios.write_throughput import main

if __name__ == "__main__":
    sys.exit(main())
