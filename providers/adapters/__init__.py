"""Provider adapters, one module per provider: each knows its provider's HTTP API and documents."""
