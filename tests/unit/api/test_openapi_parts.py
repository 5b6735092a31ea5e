"""The OpenAPI document is put together from parts: no part hides another's path or schema, and
every reference in it names a schema it has."""

from __future__ import annotations

from collections import Counter
from typing import Any

from dispatcher.api import openapi
from dispatcher.api.openapi import OPERATOR_PATHS, openapi_document
from dispatcher.api.openapi_consent import consent_paths, consent_schemas
from dispatcher.api.openapi_guard import guard_paths, guard_schemas
from dispatcher.core.names import REFUSAL_CODES
from tests.conftest import default_settings


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(item) for item in node))
    return set()


def test_no_part_defines_a_path_or_schema_another_part_does() -> None:
    settings = default_settings()
    bearer: list[dict[str, list[str]]] = [{"apiKey": []}]
    receipt = openapi._receipt_fields()
    path_parts = [
        openapi._send_paths(bearer),
        openapi._status_paths(bearer),
        openapi._dead_letter_paths(bearer),
        openapi._delivery_report_paths(),
        openapi._operations_paths(),
        openapi._dashboard_paths(bearer),
        consent_paths(bearer),
        guard_paths(bearer),
        openapi._document_paths(),
    ]
    schema_parts = [
        openapi._error_schemas(),
        openapi._message_schemas(settings, receipt),
        openapi._batch_schemas(settings, receipt),
        openapi._status_schemas(receipt),
        openapi._probe_schemas(),
        openapi._dashboard_schemas(),
        openapi._report_schemas(),
        consent_schemas(),
        guard_schemas(),
    ]
    document = openapi_document(settings)
    paths = Counter(path for part in path_parts for path in part)
    schemas = Counter(name for part in schema_parts for name in part)
    assert [path for path, n in paths.items() if n > 1] == []
    assert [name for name, n in schemas.items() if n > 1] == []
    assert list(paths) == list(document["paths"])
    assert list(schemas) == list(document["components"]["schemas"])


def test_every_reference_names_a_schema_and_operator_paths_exist() -> None:
    document = openapi_document(default_settings())
    names = {f"#/components/schemas/{name}" for name in document["components"]["schemas"]}
    assert _refs(document) <= names
    assert set(OPERATOR_PATHS) <= set(document["paths"])
    for path in OPERATOR_PATHS:
        assert {op["x-scope"] for op in document["paths"][path].values()} == {"operate"}


def test_every_refusal_of_a_guard_is_in_the_document() -> None:
    document = openapi_document(default_settings())
    answers = document["paths"]["/v1/messages"]["post"]["responses"]
    code = document["components"]["schemas"]["ErrorDetail"]["properties"]["code"]
    for refusal in REFUSAL_CODES:
        assert refusal in code["description"]
    for refusal in ("opted_out", "country_not_allowed"):
        assert refusal in answers["422"]["description"]
    for refusal in ("destination_rate_limited", "pumping_suspected", "spend_cap_reached"):
        assert refusal in answers["429"]["description"]
    assert "Retry-After" in answers["429"]["headers"]
