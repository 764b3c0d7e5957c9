"""build_app: the FastAPI application, its error envelope and its request-size limit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hkllm import __version__
from hkllm.api.openapi import document_errors
from hkllm.api.routes import apps, embeddings, health, kb, openai, web
from hkllm.engine import Engine
from hkllm.errors import HkllmError, InvalidRequest, RequestTooLarge, log_error, new_request_id
from hkllm.runtime import Runtime, build_chat_service, build_runtime
from hkllm.settings import Settings


def error_response(exc: HkllmError, where: str = "", cause: BaseException | None = None) -> JSONResponse:
    """The error envelope with a request id (``error.request_id`` and ``x-request-id``); the full error
    (``cause`` when given), with any engine detail, goes to the server log under that id."""
    request_id = new_request_id()
    log_error(cause or exc, request_id, where)
    return JSONResponse(exc.envelope(request_id), status_code=exc.status, headers={"x-request-id": request_id})


def _where(request: Request) -> str:
    return f"{request.method} {request.url.path}"


def _describe_validation(exc: RequestValidationError) -> tuple[str, str | None]:
    problems, param = [], None
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        if err.get("type") == "json_invalid":
            return f"request body is not valid JSON: {err.get('ctx', {}).get('error', err.get('msg'))}", None
        where = ".".join(loc) or "body"
        param = param or where
        problems.append(f"{where}: {err.get('msg')}")
    return "invalid request: " + "; ".join(problems), param


class BodySizeLimit:
    """Refuse request bodies over ``limit`` bytes with 413, whether or not Content-Length is sent.

    Paths in ``exempt`` (uploads) enforce their own, larger limit in their route."""

    def __init__(self, app: ASGIApp, limit: int, exempt: frozenset[str] = frozenset()) -> None:
        self.app, self.limit, self.exempt = app, limit, exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.exempt:
            await self.app(scope, receive, send)
            return
        too_large = RequestTooLarge(f"request body exceeds the limit of {self.limit} bytes (HKLLM_MAX_REQUEST_BYTES)")
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await error_response(too_large)(scope, receive, send)
            return
        if length is not None:
            await self.app(scope, receive, send)
            return
        # No Content-Length (chunked): read up to the limit here, answer 413 past it, else replay.
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                await error_response(too_large)(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def build_app(settings: Settings, engine: Engine, *, runtime: Runtime | None = None,
              on_shutdown: Callable[[], None] | None = None) -> FastAPI:
    """The API app: the composition root of the server. Builds (or takes) the runtime (database, knowledge
    base) and the chat service over ``engine``, and keeps them in ``app.state`` for ``api.deps``; at
    shutdown closes them and the engine, then calls ``on_shutdown`` (e.g. stop the supervised model)."""
    runtime = runtime or build_runtime(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.aclose()
        runtime.close()
        if on_shutdown is not None:
            await asyncio.to_thread(on_shutdown)

    app = FastAPI(title="hkllm", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = engine
    app.state.db = runtime.db
    app.state.kb = runtime.kb
    app.state.chat_service = build_chat_service(settings, engine, runtime.db)

    @app.exception_handler(HkllmError)
    async def _hkllm_error(request: Request, exc: HkllmError) -> JSONResponse:
        return error_response(exc, _where(request))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _describe_validation(exc)
        return error_response(InvalidRequest(message, param=param), _where(request))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        err = HkllmError(str(exc.detail))
        err.status, err.type = exc.status_code, "invalid_request_error"
        response = error_response(err, _where(request))
        response.headers.update(exc.headers or {})  # e.g. Allow on a 405, as RFC 9110 requires
        return response

    @app.exception_handler(Exception)
    async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:  # no traceback to the client
        return error_response(HkllmError("internal server error; the server log has the details"), _where(request),
                              cause=exc)

    app.include_router(health.router)
    app.include_router(openai.router)
    app.include_router(embeddings.router)
    app.include_router(kb.router)
    app.include_router(apps.router)
    app.include_router(web.router)
    app.mount("/static", StaticFiles(directory=web.STATIC_DIR), name="static")
    app.add_middleware(BodySizeLimit, limit=settings.max_request_bytes, exempt=frozenset({kb.INGEST_PATH}))
    document_errors(app)
    return app

