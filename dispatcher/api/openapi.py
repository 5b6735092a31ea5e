"""The OpenAPI 3 document of the HTTP API, served at ``/openapi.json``.

Written by hand next to the handlers; a test checks that every route of the application is in it
(and nothing else), and a property-based run checks the answers against it.
"""

from __future__ import annotations

from typing import Any

from dispatcher.api.openapi_consent import consent_paths, consent_schemas
from dispatcher.api.openapi_guard import guard_paths, guard_schemas
from dispatcher.api.openapi_parts import JSON, errors, json_answer, provider_callback, ref
from dispatcher.config.settings import Settings
from dispatcher.core.categories import MESSAGE_CATEGORIES
from dispatcher.core.names import PRIORITY_QUEUES, REFUSAL_CODES
from dispatcher.core.states import MessageState

__all__ = ["openapi_document"]


def _page(summary: str, content_type: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "responses": {
                "200": {
                    "description": summary,
                    "content": {content_type: {"schema": {"type": "string"}}},
                }
            },
        }
    }


def _message_fields(settings: Settings) -> dict[str, Any]:
    """The fields a new message may have, with the limits of this configuration."""
    max_validity = settings.messages.max_validity_s
    enabled = [name for name, p in settings.providers.items() if p.enabled]
    return {
        "to": {
            "type": "string",
            "pattern": r"^\+?[0-9 ()-]{7,20}$",
            "description": "A valid phone number (libphonenumber), E.164: +14155552671",
        },
        "body": {"type": "string", "pattern": r"\S", "description": "Not blank; GSM-7 or UCS-2"},
        "sender": {
            "type": ["string", "null"],
            "pattern": r"^((?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}|\+?[0-9]{3,15})$",
        },
        "idempotency_key": {"type": "string", "pattern": r"^[!-~]{1,255}$"},
        "priority": {"type": "string", "enum": list(PRIORITY_QUEUES)},
        "category": {
            "type": "string",
            "enum": list(MESSAGE_CATEGORIES),
            "description": "What consent and timing rules treat it as; default marketing for "
            "priority bulk, else transactional",
        },
        "validity": {"type": "integer", "minimum": 1, "maximum": max_validity},
        "send_at": {
            "type": "string",
            "format": "date-time",
            "description": "ISO 8601 with its offset, up to messages.max_schedule_s "
            f"({settings.messages.max_schedule_s} s) ahead: the message is scheduled until "
            "then, and its validity counts from then",
        },
        "campaign": {
            "type": "string",
            "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
            "description": "A tag the messages of one campaign share: DELETE "
            "/v1/campaigns/{tag} cancels those not yet sent",
        },
        "providers": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "enum": enabled},
        },
        "callback_url": {
            "type": "string",
            "pattern": r"^https?://[A-Za-z0-9.-]+(:[0-9]+)?(/\S*)?$",
            "maxLength": 2048,
        },
        "metadata": {
            "type": "object",
            "maxProperties": 32,
            "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
        },
    }


# What a message's status says of its conversion and its cost.
_SPEND_FIELDS = {
    "converted_at_ms": {
        "type": ["integer", "null"],
        "description": "When the web app reported it used (conversion).",
    },
    "cost": {
        "type": "number",
        "description": "What its attempts cost, in spend.currency ([prices]).",
    },
    "currency": {"type": "string"},
}
# What the dashboard's data says of the guards at the door.
_GUARD_VIEWS = {
    "refused": {
        "type": "object",
        "description": "Messages the guards at the door refused, by code.",
        "additionalProperties": {"type": "integer"},
    },
    "brakes": {
        "type": "object",
        "description": "The pumping guard's brakes: country to until (epoch ms).",
        "additionalProperties": {"type": "integer"},
    },
    "smart_encoded": {
        "type": "integer",
        "description": "Messages recorded with their typographic characters sent as GSM-7.",
    },
}


def _receipt_fields() -> dict[str, Any]:
    """The fields every answer to an accepted message has."""
    return {
        "id": {"type": "string"},
        "state": {"type": "string", "enum": [s.value for s in MessageState]},
        "segments": {"type": "integer"},
        "encoding": {"type": "string", "enum": ["GSM-7", "UCS-2"]},
        "smart_encoded": {
            "type": "boolean",
            "description": "Typographic characters (curly quotes, dashes, odd spaces) were sent "
            "as their GSM-7 equivalents (messages.smart_encoding), so the body is GSM-7.",
        },
    }


def _error_schemas() -> dict[str, Any]:
    """The error body every refusal has."""
    return {
        "ErrorDetail": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {
                    "type": "string",
                    "description": "What refused it: invalid_message, idempotency_conflict, a "
                    f"guard at the door ({', '.join(REFUSAL_CODES)}), rate_limited, ...",
                },
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                "message_id": {"type": "string"},
                "field": {
                    "type": "string",
                    "description": "Of a guard's refusal of one message of a batch: the field.",
                },
                "limit": {
                    "type": "string",
                    "description": "Of destination_rate_limited: the limit that is full "
                    "(per_number, per_range, per_country).",
                },
                "retry_after_s": {
                    "type": "integer",
                    "description": "Of a refusal that waiting lifts: seconds until a message "
                    "like it fits (also the Retry-After header).",
                },
            },
        },
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": ref("ErrorDetail")},
        },
    }


def _message_schemas(settings: Settings, receipt: dict[str, Any]) -> dict[str, Any]:
    """A new message and the receipt it is answered with."""
    return {
        "NewMessage": {
            "type": "object",
            "required": ["to", "body"],
            "additionalProperties": False,
            "properties": _message_fields(settings),
        },
        "Receipt": {
            "type": "object",
            "required": list(receipt),
            "properties": {**receipt, "duplicate": {"type": "boolean"}},
        },
    }


def _batch_schemas(settings: Settings, receipt: dict[str, Any]) -> dict[str, Any]:
    """A batch of messages and its result, one per message."""
    return {
        "Batch": {
            "type": "object",
            "required": ["messages"],
            "additionalProperties": False,
            "properties": {
                "messages": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": settings.api.max_batch,
                    # Each item is checked on its own and answered in `results` (a bad item
                    # does not refuse the batch); NewMessage says what a good item is.
                    "items": {"type": "object"},
                    "description": "Messages as NewMessage; each is validated on its own.",
                }
            },
        },
        "BatchResult": {
            "type": "object",
            "required": ["results", "accepted", "refused"],
            "properties": {
                "accepted": {"type": "integer"},
                "refused": {"type": "integer"},
                "results": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["index"],
                        "properties": {
                            "index": {"type": "integer"},
                            **receipt,
                            "duplicate": {"type": "boolean"},
                            "error": ref("ErrorDetail"),
                        },
                    },
                },
            },
        },
    }


def _status_schemas(receipt: dict[str, Any]) -> dict[str, Any]:
    """A message's status, and the dead letters and replays made of such messages."""
    nullable_string = {"type": ["string", "null"]}
    return {
        "MessageStatus": {
            "type": "object",
            "required": ["id", "state", "attempts"],
            "properties": {
                "id": {"type": "string"},
                "state": receipt["state"],
                "to": {"type": "string", "description": "masked: +*******2671"},
                "category": {"type": "string", "enum": list(MESSAGE_CATEGORIES)},
                "smart_encoded": receipt["smart_encoded"],
                **_SPEND_FIELDS,
                "provider": nullable_string,
                "provider_message_id": nullable_string,
                "segments": {"type": "integer"},
                "attempt_count": {"type": "integer"},
                "attempts": {"type": "array", "items": {"type": "object"}},
                "final_reason": nullable_string,
                "delivery_report": {"type": ["object", "null"]},
                "resend_of_attempt": {
                    "type": ["integer", "null"],
                    "description": "the attempt reported undelivered for a passing reason "
                    "after which the message was sent once more (resend_on_undelivered)",
                },
                "status_lookups": {
                    "type": "integer",
                    "description": "status lookups made at a provider that reports only when "
                    "asked (GoSMS, YellowPush)",
                },
                "send_at_ms": {"type": ["integer", "null"]},
                "campaign": nullable_string,
            },
        },
        "CampaignCanceled": {
            "type": "object",
            "required": ["campaign", "canceled", "not_cancelable"],
            "properties": {
                "campaign": {"type": "string"},
                "canceled": {"type": "integer"},
                "not_cancelable": {"type": "object", "additionalProperties": {"type": "integer"}},
            },
        },
        "DeadLetterPage": {
            "type": "object",
            "required": ["total", "items"],
            "properties": {
                "total": {"type": "integer"},
                "items": {"type": "array", "items": ref("MessageStatus")},
            },
        },
        "Replayed": {
            "type": "object",
            "required": ["id", "replay_of"],
            "properties": {"id": {"type": "string"}, "replay_of": {"type": "string"}},
        },
    }


def _probe_schemas() -> dict[str, Any]:
    """The answers of the liveness and readiness probes."""
    return {
        "Health": {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}},
        "Ready": {
            "type": "object",
            "required": ["ready", "redis", "workers"],
            "properties": {
                "ready": {"type": "boolean"},
                "redis": {"type": "string"},
                "workers": {"type": "integer"},
                "stale": {"type": "array", "items": {"type": "string"}},
                "reason": {"type": "string"},
                "redis_memory": {
                    "type": "object",
                    "description": "used_memory against maxmemory (0: no limit); `full` and "
                    "`problem` say when writes are refused or keys may be evicted.",
                    "properties": {
                        "used_bytes": {"type": "integer"},
                        "max_bytes": {"type": "integer"},
                        "policy": {"type": "string"},
                        "full": {"type": "boolean"},
                        "problem": {"type": ["string", "null"]},
                    },
                },
            },
        },
    }


def _dashboard_schemas() -> dict[str, Any]:
    """Everything the dashboard shows."""
    return {
        "Dashboard": {
            "type": "object",
            "required": [
                "at_ms",
                "queues",
                "ready",
                "workers",
                "providers",
                "hour",
                "dead_letters_latest",
            ],
            "properties": {
                "at_ms": {"type": "integer"},
                "queues": {
                    "type": "object",
                    "description": "Jobs waiting in each Celery queue.",
                    "additionalProperties": {"type": "integer"},
                },
                "ready": {
                    "type": "object",
                    "description": "Messages on each queue's ready list (sent one by one, not "
                    "yet taken by a job).",
                    "additionalProperties": {"type": "integer"},
                },
                "in_flight": {"type": "integer"},
                "waiting_to_retry": {"type": "integer"},
                "dead_letters": {"type": "integer"},
                "callbacks_pending": {"type": "integer"},
                "awaiting_reports": {
                    "type": "integer",
                    "description": "Accepted messages waiting for their final delivery report.",
                },
                "awaiting_lookups": {
                    "type": "object",
                    "description": "Of each provider, accepted messages waiting for a status "
                    "lookup (providers that report only when asked).",
                    "additionalProperties": {"type": "integer"},
                },
                "opt_outs": {"type": "integer", "description": "Entries on the opt-out list."},
                **_GUARD_VIEWS,
                "inbound_kept": {
                    "type": "integer",
                    "description": "Inbound texts recorded within messages.retention_s.",
                },
                "workers": {"type": "array", "items": {"type": "object"}},
                "providers": {"type": "array", "items": {"type": "object"}},
                "routes": {"type": "array", "items": {"type": "object"}},
                "hour": {"type": "object"},
                "dead_letters_latest": {"type": "array", "items": ref("MessageStatus")},
            },
        },
    }


def _report_schemas() -> dict[str, Any]:
    """The answer to a provider's delivery-report callback."""
    return {
        "ReportsTaken": {
            "type": "object",
            "required": ["reports", "outcomes"],
            "properties": {
                "reports": {"type": "integer"},
                "outcomes": {"type": "object", "additionalProperties": {"type": "integer"}},
            },
        },
    }


def _schemas(settings: Settings) -> dict[str, Any]:
    """Every schema of the document, in the order the document lists them."""
    receipt = _receipt_fields()
    return {
        **_error_schemas(),
        **_message_schemas(settings, receipt),
        **_batch_schemas(settings, receipt),
        **_status_schemas(receipt),
        **_probe_schemas(),
        **_dashboard_schemas(),
        **_report_schemas(),
        **consent_schemas(),
        **guard_schemas(),
    }


def _send_paths(bearer: list[dict[str, list[str]]]) -> dict[str, Any]:
    """Enqueueing one message or a batch."""
    return {
        "/v1/messages": {
            "post": {
                "summary": "Enqueue one SMS",
                "security": bearer,
                "parameters": [
                    {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}}
                ],
                "requestBody": {
                    "required": True,
                    "content": {JSON: {"schema": ref("NewMessage")}},
                },
                "responses": {
                    "202": json_answer(ref("Receipt"), "Queued."),
                    "200": json_answer(
                        ref("Receipt"), "The same key and content: the earlier message."
                    ),
                    **errors(400, 401, 403, 409, 413, 415, 422, 429, 503),
                },
            }
        },
        "/v1/messages:batch": {
            "post": {
                "summary": "Enqueue up to api.max_batch messages, a result each",
                "security": bearer,
                "requestBody": {
                    "required": True,
                    "content": {JSON: {"schema": ref("Batch")}},
                },
                "responses": {
                    "200": json_answer(ref("BatchResult"), "One result per message, in order."),
                    **errors(400, 401, 403, 413, 415, 422, 429, 503),
                },
            }
        },
    }


def _status_paths(bearer: list[dict[str, list[str]]]) -> dict[str, Any]:
    """Reading one message's status."""
    return {
        "/v1/messages/{id}": {
            "get": {
                "summary": "A message's state, provider, segments and every attempt",
                "security": bearer,
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": json_answer(ref("MessageStatus"), "The message."),
                    **errors(401, 403, 404, 429, 503),
                },
            },
            "delete": {
                "summary": "Cancel a message not yet sent (queued, scheduled, retry_scheduled)",
                "security": bearer,
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": json_answer(ref("MessageStatus"), "Canceled: never sent."),
                    **errors(401, 403, 404, 409, 429, 503),
                },
            },
        },
        "/v1/campaigns/{tag}": {
            "delete": {
                "summary": "Cancel every message of a campaign not yet sent",
                "security": bearer,
                "parameters": [
                    {"name": "tag", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": json_answer(ref("CampaignCanceled"), "How many were canceled."),
                    **errors(401, 403, 422, 429, 503),
                },
            }
        },
    }


def _dead_letter_paths(bearer: list[dict[str, list[str]]]) -> dict[str, Any]:
    """Listing dead letters and replaying one."""
    limit_param = {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
    }
    return {
        "/v1/dead-letters": {
            "get": {
                "summary": "Dead letters, newest first (operator keys)",
                "security": bearer,
                "parameters": [
                    {"name": "provider", "in": "query", "schema": {"type": "string"}},
                    {"name": "reason", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "since",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "30m, 2h, 1d or an ISO 8601 time",
                    },
                    limit_param,
                    {
                        "name": "offset",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 0},
                    },
                ],
                "responses": {
                    "200": json_answer(ref("DeadLetterPage"), "A page of dead letters."),
                    **errors(401, 403, 422, 429, 503),
                },
            }
        },
        "/v1/dead-letters/{id}/replay": {
            "post": {
                "summary": "Send a dead letter again as a new message (operator keys)",
                "security": bearer,
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "202": json_answer(ref("Replayed"), "Queued as a new message."),
                    **errors(401, 403, 404, 429, 503),
                },
            }
        },
    }


def _delivery_report_paths() -> dict[str, Any]:
    """The callback providers post delivery reports to."""
    return {
        "/v1/delivery-reports/{provider}": {
            "post": provider_callback(
                "A provider's delivery-report callback",
                json_answer(ref("ReportsTaken"), "Taken (repeats change nothing)."),
            )
        },
    }


def _operations_paths() -> dict[str, Any]:
    """The probes and the metrics, which need no key."""
    return {
        "/healthz": {
            "get": {
                "summary": "The process is up",
                "responses": {"200": json_answer(ref("Health"), "Up.")},
            }
        },
        "/readyz": {
            "get": {
                "summary": "Redis answers and a worker's heartbeat is recent",
                "responses": {
                    "200": json_answer(ref("Ready"), "Ready."),
                    "503": json_answer(ref("Ready"), "Not ready, and why."),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {
                        "description": "Text exposition format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **errors(503),
                },
            }
        },
    }


def _dashboard_paths(bearer: list[dict[str, list[str]]]) -> dict[str, Any]:
    """The dashboard's data and the page, script and style that show it."""
    return {
        "/v1/dashboard": {
            "get": {
                "summary": "Everything the dashboard shows (operator keys)",
                "security": bearer,
                "responses": {
                    "200": json_answer(
                        ref("Dashboard"), "Snapshot, last hour, latest dead letters."
                    ),
                    **errors(401, 403, 429, 503),
                },
            }
        },
        "/dashboard": _page("The dashboard page (reads /v1/dashboard)", "text/html"),
        "/dashboard.js": _page("The dashboard's script", "application/javascript"),
        "/dashboard.css": _page("The dashboard's style", "text/css"),
    }


def _document_paths() -> dict[str, Any]:
    """This document itself."""
    return {
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": json_answer({"type": "object"}, "OpenAPI 3.1.")},
            }
        },
    }


def _paths() -> dict[str, Any]:
    """Every path of the document, each keyed operation marked with the scope it needs."""
    bearer: list[dict[str, list[str]]] = [{"apiKey": []}]
    paths: dict[str, Any] = {
        **_send_paths(bearer),
        **_status_paths(bearer),
        **_dead_letter_paths(bearer),
        **_delivery_report_paths(),
        **_operations_paths(),
        **_dashboard_paths(bearer),
        **consent_paths(bearer),
        **guard_paths(bearer),
        **_document_paths(),
    }
    for path, operations in paths.items():
        for operation in operations.values():
            if "security" in operation:
                operation["x-scope"] = "operate" if path in OPERATOR_PATHS else "send"
    return paths


def openapi_document(settings: Settings) -> dict[str, Any]:
    """The document for this configuration (batch size, validity, providers)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "sms-dispatch", "version": "1"},
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
            "schemas": _schemas(settings),
        },
        "paths": _paths(),
    }


# The operations a key needs the "operate" scope for; every other one with a key needs "send".
# Each operation of the document states its scope as ``x-scope`` (checked against the API).
OPERATOR_PATHS = frozenset(
    {
        "/v1/dead-letters",
        "/v1/dead-letters/{id}/replay",
        "/v1/dashboard",
        "/v1/opt-outs",
        "/v1/opt-outs/{number}",
        "/v1/inbound",
        "/v1/erasures",
        "/v1/guard/brakes",
        "/v1/guard/brakes/{country}",
    }
)
