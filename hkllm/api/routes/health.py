"""GET /health: the server and its engine. 200 when the engine answers, 503 when it does not."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from hkllm import __version__

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    engine_health = await request.app.state.engine.health()
    body = {
        "status": "ok" if engine_health.ok else "degraded",
        "version": __version__,
        "engine": {"name": request.app.state.engine.name, "ok": engine_health.ok,
                   "detail": engine_health.detail, "models": engine_health.models},
    }
    return JSONResponse(body, status_code=200 if engine_health.ok else 503)
