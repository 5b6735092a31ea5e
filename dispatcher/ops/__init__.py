"""What operators look at: stats, Prometheus metrics, provider views and dead letters."""
