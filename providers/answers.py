"""The shared reader of a send answer shaped as "an id on success, a code and a text on failure".

Sinch, Twilio and GoSMS answer a send the same way: a 2xx carries the provider message id in one
field of a JSON object; any other status may carry the provider's error code and a text, either
at the top of the object or inside one nested object. :func:`read_coded_answer` reads that shape;
the adapter says where its fields are, what type its codes have and what each code means.
Adapters whose answers differ (a 200 with failures inside, several error lists) keep their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from providers.base import HttpAnswer, json_object
from providers.outcome import Rule, Verdict, classify_error, id_or_ambiguous

__all__ = ["read_coded_answer"]

Code = TypeVar("Code", str, int)


def read_coded_answer(
    answer: HttpAnswer,
    *,
    id_field: str,
    rules: Mapping[Code, Rule],
    code_type: type[Code],
    text_field: str,
    code_field: str = "code",
    error_field: str | None = None,
) -> Verdict:
    """Classify a send answer from its status, its id on success, or its error code and text.

    ``id_field`` names the id in a 2xx body. On any other status the code and the text are read
    from the body itself, or from the object under ``error_field`` when one is named. A code counts
    only when it is an instance of ``code_type``; it is looked up in ``rules`` only below 500,
    since a 5xx is the provider's fault whatever it says. A text that is not a non-empty string
    gives the reason ``http_<status>``.
    """
    document = json_object(answer.body)
    if 200 <= answer.status < 300:
        return id_or_ambiguous(answer.status, document.get(id_field) if document else None)
    error = document.get(error_field) if document and error_field is not None else document
    raw_code = error.get(code_field) if isinstance(error, dict) else None
    text = error.get(text_field) if isinstance(error, dict) else None
    code = raw_code if isinstance(raw_code, code_type) else None
    return classify_error(
        answer.status,
        answer.headers,
        rule=rules.get(code) if code is not None and answer.status < 500 else None,
        reason=text if isinstance(text, str) and text else f"http_{answer.status}",
        provider_code=str(code) if code is not None else None,
    )
