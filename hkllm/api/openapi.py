"""The OpenAPI document says what the API really answers: every operation's error envelope and statuses.

FastAPI documents only 200 and its own 422; hkllm answers validation errors with 400 and every error with
the OpenAI-style envelope ``{"error": {"message", "type", "param", "code"}}`` (``HkllmError.to_dict``),
and streams chat completions as ``text/event-stream``. ``document_errors(app)`` rewrites the generated
document once, on first request, so clients and fuzzers (schemathesis in the tests) can hold the server
to it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_STATUSES: dict[str, str] = {
    "400": "The request is invalid (the message and param say what is wrong)",
    "401": "Missing or invalid API key (when the server requires one)",
    "404": "Not found (unknown model, unit, citation or app)",
    "413": "The request body or upload is too large",
    "502": "The model engine answered with an error",
    "503": "The model engine is not reachable or not ready",
}
ERROR_SCHEMA: dict[str, Any] = {
    "title": "ErrorResponse",
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["message", "type"],
        "properties": {"message": {"type": "string"}, "type": {"type": "string"},
                       "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}},
    }},
}
STREAMED = {("/v1/chat/completions", "post")}
EXTRA_STATUSES: dict[tuple[str, str], dict[str, str]] = {
    ("/v1/kb/ingest", "post"): {"422": "Nothing in the upload could be ingested (the per-file errors are listed)"},
}


def with_error_responses(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with the error envelope on every operation, FastAPI's 422 replaced by 400 (the server
    never answers 422) and the event stream documented where a route streams. Pure: returns the input
    after changing it in place."""
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorResponse"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/ErrorResponse"}
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for path, methods in document.get("paths", {}).items():
        for method, operation in methods.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            for status, description in {**ERROR_STATUSES, **EXTRA_STATUSES.get((path, method), {})}.items():
                responses.setdefault(status, {"description": description,
                                              "content": {"application/json": {"schema": ref}}})
            if (path, method) in STREAMED and "200" in responses:
                content = responses["200"].setdefault("content", {})
                content["text/event-stream"] = {"schema": {}}  # data: chunk objects, then [DONE]
    return document


def document_errors(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the generated document with ``with_error_responses`` applied."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = with_error_responses(get_openapi(
                title=app.title, version=app.version, routes=app.routes, description=app.description))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
