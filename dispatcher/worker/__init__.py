"""The worker process: its runtime, its Celery tasks and its start-up."""
