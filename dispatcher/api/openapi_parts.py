"""The pieces every part of the OpenAPI document is written with."""

from __future__ import annotations

from typing import Any

__all__ = ["JSON", "errors", "json_answer", "provider_callback", "ref"]

JSON = "application/json"


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_answer(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def errors(*statuses: int) -> dict[str, Any]:
    reasons = {
        400: "Malformed JSON.",
        401: "No valid API key (or callback signature / token).",
        403: "The key may not do this.",
        404: "Not found.",
        405: "Method not allowed.",
        409: "Conflict (idempotency key reused with other content; not cancelable now).",
        413: "Body larger than api.max_body_bytes.",
        415: "Not application/json.",
        422: "Invalid input (`fields` names each bad field and why), or refused by a guard at "
        "the door: `opted_out`, `country_not_allowed` (naming `to`).",
        429: "Over this key's rate limit (`rate_limited`), or a guard at the door is full: the "
        "pumping guard's limit for the destination (`destination_rate_limited`, naming the "
        "`limit`), the brake on OTPs to its country (`pumping_suspected`), a spend cap "
        "(`spend_cap_reached`, naming the cap); see Retry-After.",
        503: "Redis unavailable, or a report arrived before its message was accepted.",
    }
    answers = {str(s): json_answer(ref("Error"), reasons[s]) for s in statuses}
    if 429 in statuses:
        answers["429"]["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
    if 503 in statuses:
        answers["503"]["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
    return answers


def provider_callback(summary: str, taken: dict[str, Any]) -> dict[str, Any]:
    """A provider's callback (``/v1/.../{provider}``): its proof, its body, ``taken`` on 200."""
    return {
        "summary": summary,
        "description": (
            "Signed (Twilio; Sinch with webhook_secret), or ?token=<delivery_reports.secret>."
        ),
        "parameters": [
            {"name": "provider", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "token", "in": "query", "schema": {"type": "string"}},
        ],
        "requestBody": {
            "content": {
                JSON: {"schema": {"type": "object"}},
                "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
            }
        },
        "responses": {"200": taken, **errors(401, 404, 413, 422, 503)},
    }
