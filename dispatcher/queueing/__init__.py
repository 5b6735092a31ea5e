"""Celery and kombu, and nothing else of sms-dispatch's: the app's configuration, the job payloads
written by our own scripts, the order a worker looks at its queues, and the fixes to kombu's Redis
transport."""
