"""``smsdispatch dev``: the whole system on one machine without Docker (embedded Redis, simulator,
worker, API), and ``smsdispatch demo``."""
