"""JSON over HTTP to this machine's own services (the local stack's API and simulator)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

__all__ = ["request_json"]


def request_json(
    url: str, body: Any = None, *, key: str | None = None, timeout_s: float = 30
) -> Any:
    """GET ``url`` (POST ``body`` as JSON when given), with a bearer ``key``; the JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - loopback URLs of the local stack
        url, data=data, method="GET" if data is None else "POST"
    )
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    with urllib.request.urlopen(request, timeout=timeout_s) as answer:  # noqa: S310
        return json.loads(answer.read())
