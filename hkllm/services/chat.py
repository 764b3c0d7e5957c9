"""Chat service: model resolution, defaults, the reply-language policy, the engine call, the chat log.

Routes and the CLI call this; it reaches the model only through the ``Engine`` protocol. Each request
is logged as one row written in one transaction when the request ends (success, error or a client
that went away), so a crash never leaves half-written rows.

Reply language (``hkllm.services.reply_language``): the target is the request's ``reply_lang``, else the
``reply_lang`` setting, else (auto) the user's own language. Non-streamed replies follow the reply
strategy (instruction and exemplars, a wrong script converted, a wrong language regenerated once where the
strategy says so, a Cantonese target left in SWC localized when ``localize`` is on). Streamed replies get
the instruction and an on-the-fly script conversion (a stream cannot be regenerated), clause by clause
localization for Cantonese when ``localize`` is on; their verdict is logged. Completions carry what
happened in an ``hkllm`` field; the chat log keeps the model's raw text beside the final one.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from hkllm.engine import ChatRequest, Engine
from hkllm.errors import HkllmError, InvalidRequest, ModelNotFound
from hkllm.lang.reply import StreamScriptFixer, check_reply, normalize_target, resolve_target
from hkllm.services.reply_language import (
    ReplyStrategy,
    fix_stream_script,
    generate_reply,
    prompts_version,
    strategy_for,
    stream_fixer,
    stream_request,
)
from hkllm.store.db import Database
from hkllm.store.models import ChatLog

MODELS_TTL_S = 30.0


def stream_usage(usage: dict[str, Any] | None, pieces: int) -> dict[str, Any]:
    """The usage of a stream: the engine's own when it sent one, else its content chunks counted as
    completion tokens (llama.cpp sends one token per chunk and no usage; its prompt count is not known)."""
    if usage:
        return usage
    return {"completion_tokens": pieces}


class ChatService:
    """``localize``: rewrite a Cantonese-target reply left in Standard Written Chinese word by word (the
    composition root passes ``resolve_localize(settings.reply_localize, engine)``); ``strategy``
    overrides the reply strategy (default: the shipped one, ``strategy_for(localize)``)."""

    def __init__(self, engine: Engine, db: Database, *, default_max_tokens: int = 512,
                 reply_lang: str = "auto", localize: bool = True, strategy: ReplyStrategy | None = None) -> None:
        self.engine = engine
        self.db = db
        self.default_max_tokens = default_max_tokens
        self.reply_lang = reply_lang
        self.strategy = strategy or strategy_for(localize)
        self._models: list[dict[str, Any]] = []
        self._models_at = 0.0

    async def model(self, model_id: str) -> dict[str, Any]:
        """One model by id (unknown → 404)."""
        for model in await self.models():
            if model["id"] == model_id:
                return model
        self._models_at = 0.0
        raise ModelNotFound(f"The model '{model_id}' does not exist", param="model")

    async def models(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        if not self._models or now - self._models_at > MODELS_TTL_S:
            self._models = await self.engine.list_models()
            self._models_at = now
        return self._models

    async def prepare(self, request: ChatRequest) -> ChatRequest:
        """Resolve the model (unknown → 404 naming the available ones) and fill defaults."""
        ids = [m["id"] for m in await self.models()]
        model = request.model or (ids[0] if ids else None)
        if model not in ids:
            self._models_at = 0.0  # maybe the engine changed models: refetch next time
            raise ModelNotFound(f"The model '{request.model}' does not exist; available: {', '.join(ids)}",
                                param="model")
        if request.n is not None and request.n > 1:
            raise InvalidRequest("n > 1 is not supported: hkllm answers one choice per request (send the request "
                                 "n times)", param="n", code="unsupported_parameter")
        update: dict[str, Any] = {"model": model}
        if request.max_tokens is None and request.max_completion_tokens is None:
            update["max_tokens"] = self.default_max_tokens
        return request.model_copy(update=update)

    def reply_target(self, request: ChatRequest) -> str | None:
        """The reply language to enforce, or None when the policy is off for this request (asked for, or a
        reply that is data: tool calls or constrained JSON, which rewriting or an instruction would break)."""
        choice = (request.reply_lang or self.reply_lang or "auto").strip()
        if choice.lower() == "off":
            return None
        if request.tools or (request.response_format or {}).get("type") in ("json_object", "json_schema"):
            return None
        try:
            return normalize_target(choice) or resolve_target([m.text() for m in request.messages if m.role == "user"])
        except ValueError as exc:
            raise InvalidRequest(str(exc), param="reply_lang") from exc

    def _log(self, request: ChatRequest, *, request_id: str, source: str, started: float,
             response: str | None, finish_reason: str | None, usage: dict[str, Any] | None,
             ttft_ms: float | None, error: HkllmError | BaseException | None, status: str | None = None,
             meta: dict[str, Any] | None = None, raw_response: str | None = None) -> None:
        row = ChatLog(
            request_id=request_id, source=source, model=request.model or "", engine=self.engine.name,
            stream=request.stream, messages=[m.model_dump(exclude_none=True) for m in request.messages],
            params=request.model_dump(exclude_none=True, exclude={"messages", "model", "stream"}),
            response=response, raw_response=raw_response, finish_reason=finish_reason,
            status=status or ("error" if error else "ok"),
            error=(f"{type(error).__name__}: {error}" if error else None),
            prompt_tokens=(usage or {}).get("prompt_tokens"), completion_tokens=(usage or {}).get("completion_tokens"),
            ttft_ms=ttft_ms, duration_ms=(time.perf_counter() - started) * 1000, meta=meta or {},
        )
        with self.db.session() as session:
            session.add(row)

    async def complete(self, request: ChatRequest, *, source: str = "api") -> dict[str, Any]:
        request = await self.prepare(request)
        target = self.reply_target(request)
        request_id, started = uuid.uuid4().hex, time.perf_counter()
        meta: dict[str, Any] = {"reply_lang": target}
        log_meta: dict[str, Any] = {}  # in the log only: the strategy, step times, any rejected attempt
        raw: str | None = None
        try:
            if target is None:
                completion = await self.engine.complete(request)
            else:
                result = await generate_reply(self.engine, request, target, strategy=self.strategy)
                completion = result.final_completion()
                raw = result.raw_text
                meta.update(detected=result.detected, converted=result.converted,
                            regenerated=result.regenerated, localized=result.localized, language_ok=result.ok)
                log_meta.update(strategy=result.strategy, prompts=prompts_version(), timings_ms=result.timings_ms)
                if result.regenerated:
                    log_meta["rejected"] = result.rejected_texts
        except HkllmError as exc:
            self._log(request, request_id=request_id, source=source, started=started, response=None,
                      finish_reason=None, usage=None, ttft_ms=None, error=exc, meta=meta)
            raise
        choice = (completion.get("choices") or [{}])[0]
        text = (choice.get("message") or {}).get("content")
        self._log(request, request_id=request_id, source=source, started=started, response=text,
                  raw_response=text if raw is None else raw, finish_reason=choice.get("finish_reason"),
                  usage=completion.get("usage"), ttft_ms=None, error=None, meta={**meta, **log_meta})
        completion["model"] = request.model
        completion["hkllm"] = meta
        return completion

    async def stream(self, request: ChatRequest, *, source: str = "api") -> AsyncIterator[dict[str, Any]]:
        """Yield OpenAI chunks. Callers that must answer errors with a proper HTTP status (the API)
        pull the first chunk before they start sending."""
        request = await self.prepare(request)
        target = self.reply_target(request)
        fixer: StreamScriptFixer | None = None
        pieces = 0  # the engine's own content chunks: tokens for llama.cpp, which sends no usage in streams

        async def counted(source: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
            nonlocal pieces
            async for chunk in source:
                pieces += sum(1 for c in chunk.get("choices") or [] if (c.get("delta") or {}).get("content"))
                yield chunk

        if target is None:
            chunks = counted(self.engine.stream(request))
        else:
            fixer = stream_fixer(target, self.strategy)
            chunks = fix_stream_script(counted(self.engine.stream(stream_request(request, target, self.strategy))),
                                       target, fixer=fixer)
        meta: dict[str, Any] = {"reply_lang": target}
        request_id, started = uuid.uuid4().hex, time.perf_counter()
        parts: list[str] = []
        finish_reason: str | None = None
        usage: dict[str, Any] | None = None
        ttft_ms: float | None = None
        error: BaseException | None = None
        status: str | None = None
        wants_usage = request.wants_stream_usage()
        last: dict[str, Any] = {}
        try:
            async for chunk in chunks:
                chunk["model"] = request.model
                usage = chunk.pop("usage", None) or usage  # sent once, at the end, when asked for
                last = chunk
                if not chunk.get("choices"):
                    continue  # a usage-only chunk
                if wants_usage:
                    chunk["usage"] = None
                for choice in chunk.get("choices") or []:
                    content = (choice.get("delta") or {}).get("content")
                    if content:
                        if ttft_ms is None:
                            ttft_ms = (time.perf_counter() - started) * 1000
                        parts.append(content)
                    finish_reason = choice.get("finish_reason") or finish_reason
                yield chunk
            if wants_usage:  # as OpenAI: a last chunk with no choices and the usage
                yield {"id": last.get("id", f"chatcmpl-{request_id[:12]}"), "object": "chat.completion.chunk",
                       "created": last.get("created", int(time.time())), "model": request.model, "choices": [],
                       "usage": stream_usage(usage, pieces)}
        except (GeneratorExit, asyncio.CancelledError):  # the client went away
            status, error = "cancelled", None
            raise
        except BaseException as exc:  # logged, then re-raised to the caller
            error = exc
            raise
        finally:
            if usage is None and pieces:
                usage = {"completion_tokens": pieces}
            if target is not None and parts:
                verdict = check_reply("".join(parts), target)
                meta.update(detected=verdict.guess.label, language_ok=verdict.ok,
                            localized=bool(fixer and fixer.localized), strategy=self.strategy.name,
                            prompts=prompts_version())
            self._log(request, request_id=request_id, source=source, started=started, response="".join(parts),
                      raw_response=fixer.raw if fixer is not None else "".join(parts),
                      finish_reason=finish_reason, usage=usage, ttft_ms=ttft_ms, error=error, status=status,
                      meta=meta)
