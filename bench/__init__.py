"""The benchmark of sms-dispatch and its baselines (``make bench``)."""
