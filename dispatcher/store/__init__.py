"""The only place that knows Redis keys and Lua scripts: message records and their leases, the
delay queue and pending index, provider gates, rate limits, counts, heartbeats, status callbacks
and dead letters. Redis errors are translated here into :mod:`dispatcher.errors`."""
