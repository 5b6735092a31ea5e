"""The consent part of the OpenAPI document: the opt-out list and inbound texts."""

from __future__ import annotations

from typing import Any

from dispatcher.api.openapi_parts import JSON, errors, json_answer, provider_callback, ref

__all__ = ["consent_paths", "consent_schemas"]

_NUMBER = {
    "name": "number",
    "in": "path",
    "required": True,
    "description": "E.164, e.g. +14155552671 (the + may be sent as %2B)",
    "schema": {"type": "string", "minLength": 1, "maxLength": 32},
}
_SENDER = {
    "name": "sender",
    "in": "query",
    "description": 'under opt_out.scope = "sender": the entry for this sender only',
    "schema": {"type": "string", "maxLength": 16},
}


def consent_schemas() -> dict[str, Any]:
    """The opt-out entry, a page of them, and what a change did."""
    entry = {
        "type": "object",
        "required": ["number", "sender", "source", "keyword", "at_ms"],
        "properties": {
            "number": {"type": ["string", "null"], "description": "null once erased"},
            "sender": {"type": ["string", "null"], "description": "null: every sender"},
            "source": {"type": "string", "description": "keyword, api:<key>, cli or import"},
            "keyword": {"type": ["string", "null"]},
            "at_ms": {"type": "integer"},
        },
    }
    return {
        "OptOut": entry,
        "OptOutPage": {
            "type": "object",
            "required": ["opt_outs", "next_cursor", "total"],
            "properties": {
                "opt_outs": {"type": "array", "items": ref("OptOut")},
                "next_cursor": {"type": ["integer", "null"]},
                "total": {"type": "integer"},
            },
        },
        "OptOutAdded": {
            "type": "object",
            "required": ["added", "opt_out"],
            "properties": {"added": {"type": "boolean"}, "opt_out": ref("OptOut")},
        },
        "OptOutRemoved": {
            "type": "object",
            "required": ["removed"],
            "properties": {"removed": {"type": "boolean"}},
        },
        **_inbound_schemas(),
        "Erased": {
            "type": "object",
            "required": [
                "messages",
                "dead_letters",
                "idempotency_keys",
                "inbound",
                "opt_outs_kept",
            ],
            "properties": {
                name: {"type": "integer"}
                for name in (
                    "messages",
                    "dead_letters",
                    "idempotency_keys",
                    "inbound",
                    "opt_outs_kept",
                )
            },
        },
    }


def _inbound_schemas() -> dict[str, Any]:
    text = {
        "type": "object",
        "required": ["id", "provider", "from", "to", "received_at_ms", "text", "keyword"],
        "properties": {
            "id": {"type": "string"},
            "provider": {"type": "string"},
            "provider_message_id": {"type": "string"},
            "from": {"type": "string", "description": "masked: +*******2671"},
            "to": {"type": "string"},
            "received_at_ms": {"type": "integer"},
            "text": {"type": ["string", "null"], "description": "null after inbound.retention_s"},
            "keyword": {"type": ["string", "null"], "enum": ["stop", "start", "help", None]},
            "part": {"type": ["string", "null"], "description": "<reference>:<part>/<parts>"},
            "callback_failed": {"type": "boolean"},
        },
    }
    return {
        "InboundText": text,
        "InboundPage": {
            "type": "object",
            "required": ["total", "items"],
            "properties": {
                "total": {"type": "integer"},
                "items": {"type": "array", "items": ref("InboundText")},
            },
        },
    }


def _inbound_paths(bearer: list[dict[str, list[str]]]) -> dict[str, Any]:
    return {
        "/v1/inbound": {
            "get": {
                "summary": "The latest inbound texts, newest first (operator keys)",
                "security": bearer,
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                ],
                "responses": {
                    "200": json_answer(ref("InboundPage"), "A page of inbound texts."),
                    **errors(401, 403, 422, 429, 503),
                },
            }
        },
        "/v1/inbound/{provider}": {
            "post": provider_callback(
                "A provider's inbound-text webhook (Sinch mo_text, Twilio, Vonage), answered as "
                "the provider expects",
                {
                    "description": "Taken (a repeat changes nothing).",
                    "content": {
                        JSON: {"schema": {"type": "object"}},
                        "text/xml": {"schema": {"type": "string"}},
                    },
                },
            )
        },
    }


def consent_paths(bearer: list[dict[str, list[str]]]) -> dict[str, Any]:
    """The inbound routes, erasure and the opt-out list's routes (operator keys)."""
    return {**_inbound_paths(bearer), **_erasure_paths(bearer), **_opt_out_paths(bearer)}


def _erasure_paths(bearer: list[dict[str, list[str]]]) -> dict[str, Any]:
    return {
        "/v1/erasures": {
            "post": {
                "summary": "Erase a phone number from every record (operator keys)",
                "security": bearer,
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON: {
                            "schema": {
                                "type": "object",
                                "required": ["number"],
                                "additionalProperties": False,
                                "properties": {"number": {"type": "string", "maxLength": 32}},
                            }
                        }
                    },
                },
                "responses": {
                    "200": json_answer(ref("Erased"), "How many of each were erased."),
                    **errors(400, 401, 403, 413, 415, 422, 429, 503),
                },
            }
        },
    }


def _opt_out_paths(bearer: list[dict[str, list[str]]]) -> dict[str, Any]:
    return {
        "/v1/opt-outs": {
            "get": {
                "summary": "The opt-out list, a page at a time (operator keys)",
                "security": bearer,
                "parameters": [
                    {"name": "cursor", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                    {
                        "name": "count",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                ],
                "responses": {
                    "200": json_answer(ref("OptOutPage"), "A page; next_cursor null at the end."),
                    **errors(401, 403, 422, 429, 503),
                },
            }
        },
        "/v1/opt-outs/{number}": {
            "get": {
                "summary": "One number's opt-out entry (operator keys)",
                "security": bearer,
                "parameters": [_NUMBER, _SENDER],
                "responses": {
                    "200": json_answer(ref("OptOut"), "On the list."),
                    **errors(401, 403, 404, 422, 429, 503),
                },
            },
            "put": {
                "summary": "Put a number on the opt-out list (operator keys)",
                "security": bearer,
                "parameters": [_NUMBER, _SENDER],
                "responses": {
                    "201": json_answer(ref("OptOutAdded"), "Put on the list."),
                    "200": json_answer(ref("OptOutAdded"), "It was on the list already."),
                    **errors(401, 403, 422, 429, 503),
                },
            },
            "delete": {
                "summary": "Take a number off the opt-out list (operator keys)",
                "security": bearer,
                "parameters": [_NUMBER, _SENDER],
                "responses": {
                    "200": json_answer(ref("OptOutRemoved"), "Taken off the list."),
                    **errors(401, 403, 404, 422, 429, 503),
                },
            },
        },
    }
