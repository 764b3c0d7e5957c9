"""The whole API fuzzed from its own OpenAPI document by schemathesis (a third party's tool): no server
error, every status code documented, every response body matching its schema, the right content type.

The app runs in-process over ASGI with a fake engine and a hash embedder; examples per operation are
bounded so the run takes seconds (``HKLLM_FUZZ_EXAMPLES`` raises it for a longer run by hand).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis import checks

from hkllm.api.app import build_app
from hkllm.engine import FakeEngine
from hkllm.settings import Settings

EXAMPLES = int(os.environ.get("HKLLM_FUZZ_EXAMPLES", "12"))
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance]
_state: dict[str, object] = {}


def _app(tmp: Path) -> FastAPI:
    settings = Settings(data_dir=tmp, kb_embedder="hash", reply_lang="off", database_url=None, api_keys=[])
    return build_app(settings, FakeEngine(default=lambda request: "好，收到。", model="fake-model"))


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    app = _app(tmp_path_factory.mktemp("fuzz"))
    _state["app"] = app
    yield app


def _schema() -> schemathesis.schemas.BaseSchema:
    # The schema is read from a throwaway app at collection time; the cases run against ``fuzzed_app``.
    import tempfile

    return schemathesis.openapi.from_asgi("/openapi.json", _app(Path(tempfile.mkdtemp(prefix="hkllm-fuzz-"))))


schema = _schema()


@schema.parametrize()
@hypothesis.settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                     suppress_health_check=list(hypothesis.HealthCheck))
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case, fuzzed_app: FastAPI) -> None:
    case.call_and_validate(app=fuzzed_app, checks=CHECKS)


def test_openapi_documents_the_error_envelope_and_not_fastapis_422(fuzzed_app: FastAPI) -> None:
    document = fuzzed_app.openapi()
    assert "ErrorResponse" in document["components"]["schemas"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            responses = operation["responses"]
            assert {"400", "401", "404", "413", "502", "503"} <= set(responses), (path, method)
            assert ("422" in responses) is ((path, method) == ("/v1/kb/ingest", "post")), (path, method)
    streamed = document["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
    assert "text/event-stream" in streamed and "application/json" in streamed


def test_a_405_names_the_allowed_methods(fuzzed_app: FastAPI) -> None:
    from fastapi.testclient import TestClient

    with TestClient(fuzzed_app) as client:
        r = client.request("TRACE", "/v1/models")
    assert r.status_code == 405 and "GET" in r.headers["allow"] and r.json()["error"]["message"]
