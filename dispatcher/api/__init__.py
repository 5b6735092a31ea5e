"""The HTTP API process (aiohttp web)."""
