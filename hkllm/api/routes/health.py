"""GET /health: the server and its engine. 200 when the engine answers, 503 when it does not."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from hkllm import __version__
from hkllm.api.deps import EngineDep

router = APIRouter()


@router.get("/health")
async def health(engine: EngineDep) -> JSONResponse:
    engine_health = await engine.health()
    body = {
        "status": "ok" if engine_health.ok else "degraded",
        "version": __version__,
        "engine": {"name": engine.name, "ok": engine_health.ok,
                   "detail": engine_health.detail, "models": engine_health.models},
    }
    return JSONResponse(body, status_code=200 if engine_health.ok else 503)
