"""Provider adapters, the provider protocol, outcome classes and the provider simulator.

Adapters know HTTP and their provider's documents, nothing of Celery or Redis.
"""

from providers.base import HttpAnswer, HttpRequest, OutboundSms, Provider
from providers.outcome import OutcomeKind, Scope, TransportFailure, TransportPhase, Verdict
from providers.registry import ProviderConfigError, build_provider, known_kinds

__all__ = [
    "HttpAnswer",
    "HttpRequest",
    "OutboundSms",
    "OutcomeKind",
    "Provider",
    "ProviderConfigError",
    "Scope",
    "TransportFailure",
    "TransportPhase",
    "Verdict",
    "build_provider",
    "known_kinds",
]
