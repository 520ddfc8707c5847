"""``python -m objectql``: the ``objectql`` command."""

from __future__ import annotations

import sys

from objectql.server.cli import main

if __name__ == "__main__":
    sys.exit(main())
