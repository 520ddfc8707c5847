"""Garbage-collector policy of a server process.

A realtime server holds many long-lived objects (connections, subscriptions, the schema) and allocates
short-lived ones per delivered message (coroutines, ASGI message dicts). With the default thresholds the
collector runs young collections every few hundred messages and full collections often enough to scan
every connection again and again. Raising the young threshold and freezing what start-up built (modules,
schema, tables) keeps collections cheap; reference counting still frees almost everything at once, the
collector only has cycles to find.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
MIDDLE_THRESHOLD = 20
OLD_THRESHOLD = 10


def tune_collector() -> None:
    """Raise the collection thresholds (process-wide: servers call it at start-up, when ``gc_tuning`` is on)."""
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)


def freeze_startup_objects() -> None:
    """Move everything built so far out of the collector's reach (call when start-up is complete)."""
    gc.collect()
    gc.freeze()
