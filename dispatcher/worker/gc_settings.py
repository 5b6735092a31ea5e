"""The worker's garbage collector, set for a long-lived process that makes many short-lived
objects.

With Python's defaults the collector runs its young generation every 700 new container objects,
and each full collection scans every object the worker built at start-up (Celery, kombu,
pydantic, the adapters: about 96,000) and frees almost nothing; in a ``send_bulk`` run that held
the interpreter for a fifth of the run. Once the worker is ready its start-up objects are frozen
(kept out of every later collection) and the young generation is collected every
``worker.gc_young_threshold`` new objects.
"""

from __future__ import annotations

import gc

__all__ = ["settle_collector"]


def settle_collector(young_threshold: int) -> int:
    """Collect once, freeze what is left (the start-up objects) and set the young generation's
    threshold (0 keeps Python's); returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    if young_threshold:
        _, middle, oldest = gc.get_threshold()
        gc.set_threshold(young_threshold, middle, oldest)
    return gc.get_freeze_count()
