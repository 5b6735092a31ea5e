"""The pumping guard's part of the OpenAPI document: conversions and brakes."""

from __future__ import annotations

from typing import Any

from dispatcher.api.openapi_parts import errors, json_answer, ref

__all__ = ["guard_paths", "guard_schemas"]


def guard_schemas() -> dict[str, Any]:
    """A conversion noted, and the brakes."""
    return {
        "Conversion": {
            "type": "object",
            "required": ["id", "converted_at_ms", "repeat"],
            "properties": {
                "id": {"type": "string"},
                "converted_at_ms": {"type": "integer"},
                "repeat": {
                    "type": "boolean",
                    "description": "Reported before: counted once, at its first report.",
                },
            },
        },
        "Brakes": {
            "type": "object",
            "required": ["brakes"],
            "properties": {
                "brakes": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["country", "until_ms", "in_force"],
                        "properties": {
                            "country": {"type": "string"},
                            "until_ms": {"type": "integer"},
                            "in_force": {"type": "boolean"},
                        },
                    },
                }
            },
        },
    }


def guard_paths(bearer: list[dict[str, list[str]]]) -> dict[str, Any]:
    """The conversion route (keys that send) and the brakes' routes (keys that operate)."""
    message_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    country = {
        "name": "country",
        "in": "path",
        "required": True,
        "description": "ISO 3166 region, e.g. US",
        "schema": {"type": "string", "minLength": 2, "maxLength": 3},
    }
    return {
        "/v1/messages/{id}/conversion": {
            "post": {
                "summary": "Say the message was used (the one-time code typed in): an OTP's "
                "conversion counts for its country's pumping brake",
                "security": bearer,
                "parameters": [message_id],
                "responses": {
                    "200": json_answer(ref("Conversion"), "Noted (or noted before)."),
                    **errors(401, 403, 404, 429, 503),
                },
            }
        },
        "/v1/guard/brakes": {
            "get": {
                "summary": "The pumping guard's brakes on OTPs, by country (operator keys)",
                "security": bearer,
                "responses": {
                    "200": json_answer(ref("Brakes"), "Every brake put on."),
                    **errors(401, 403, 429, 503),
                },
            }
        },
        "/v1/guard/brakes/{country}": {
            "delete": {
                "summary": "Release a country's brake, with a fresh start (operator keys)",
                "security": bearer,
                "parameters": [country],
                "responses": {
                    "200": json_answer(
                        {"type": "object", "properties": {"country": {"type": "string"}}},
                        "Released.",
                    ),
                    **errors(401, 403, 404, 422, 429, 503),
                },
            }
        },
    }
