"""The pure domain of sms-dispatch: states, ids, encoding, message records, routing, provider
health factors, latency buckets, the retry policy, the decisions after an attempt, address checks
and the names of queues and tasks. Nothing here does I/O: no Redis, Celery or aiohttp."""
