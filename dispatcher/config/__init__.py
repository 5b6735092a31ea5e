"""Settings (a TOML file overridden by ``SMSD_`` environment variables), the local stack's state
file, and the provider adapters built from the settings."""
