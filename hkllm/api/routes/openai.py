"""OpenAI-compatible routes: /v1/models and /v1/chat/completions. Thin: parse, call the service, map."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from hkllm.api.deps import ChatServiceDep, require_api_key
from hkllm.engine import ChatRequest
from hkllm.errors import EngineError, HkllmError

router = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)])


@router.get("/models")
async def list_models(service: ChatServiceDep) -> dict[str, Any]:
    return {"object": "list", "data": await service.models()}


async def _sse(first: dict[str, Any] | None, rest: AsyncIterator[dict[str, Any]]) -> AsyncIterator[str]:
    try:
        if first is not None:
            yield f"data: {json.dumps(first, ensure_ascii=False)}\n\n"
        async for chunk in rest:
            yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
    except HkllmError as exc:  # mid-stream: the status line is already sent, so send an error event
        yield f"data: {json.dumps(exc.to_dict(), ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"


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
