"""OpenAI-compatible routes: /v1/models, /v1/models/{id} and /v1/chat/completions. Thin: parse, call the service,
map. (/v1/embeddings: ``routes.embeddings``.)"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from hkllm.api.deps import ChatServiceDep, require_api_key
from hkllm.engine import ChatRequest
from hkllm.errors import EngineError, HkllmError, log_error, new_request_id

router = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)])
_JSON = json.JSONEncoder(ensure_ascii=False)  # json.dumps builds a new encoder per call for these options


@router.get("/models")
async def list_models(service: ChatServiceDep) -> dict[str, Any]:
    return {"object": "list", "data": await service.models()}


@router.get("/models/{model_id:path}")
async def get_model(model_id: str, service: ChatServiceDep) -> dict[str, Any]:
    return await service.model(model_id)


def _event(data: dict[str, Any]) -> bytes:
    return b"data: " + _JSON.encode(data).encode() + b"\n\n"


async def _sse(first: dict[str, Any] | None, rest: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    """The chunks as Server-Sent Events (bytes, so nothing is re-encoded per chunk downstream)."""
    try:
        if first is not None:
            yield _event(first)
        async for chunk in rest:
            yield _event(chunk)
    except HkllmError as exc:  # mid-stream: the status line is already sent, so send an error event
        request_id = new_request_id()
        log_error(exc, request_id, "POST /v1/chat/completions (mid-stream)")
        yield _event(exc.envelope(request_id))
    yield b"data: [DONE]\n\n"


@router.post("/chat/completions", response_model=None)
async def chat_completions(body: ChatRequest, service: ChatServiceDep) -> dict[str, Any] | StreamingResponse:
    if not body.stream:
        return await service.complete(body)
    chunks = service.stream(body)
    try:
        first = await anext(chunks)  # errors before the first token become real HTTP errors
    except StopAsyncIteration:
        raise EngineError("engine closed the stream without sending anything") from None
    return StreamingResponse(_sse(first, chunks), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
