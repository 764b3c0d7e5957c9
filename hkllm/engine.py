"""The one way services reach a model: the ``Engine`` protocol.

``OpenAICompatibleEngine`` speaks the OpenAI HTTP API and serves every real backend: the embedded
llama.cpp server, vLLM / SGLang / llama.cpp / Ollama servers, or a hosted DeepSeek-compatible API.
``FakeEngine`` replays queued replies, for unit tests only.

Requests are ``ChatRequest`` models; completions and stream chunks are plain dicts in the OpenAI
wire format, so they can be forwarded unchanged.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field

from hkllm.errors import EngineError, EngineUnavailable, InvalidRequest


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None

    def text(self) -> str:
        """The message's text, joining the text parts of a multi-part content list."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.get("text", "") for part in self.content if part.get("type") == "text")


class ChatRequest(BaseModel):
    """An OpenAI chat-completions request (the fields hkllm forwards; unknown ones are ignored)."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    response_format: dict[str, Any] | None = None
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    user: str | None = None
    # hkllm extension (not forwarded): reply language — yue, zh-Hant, zh-Hans, en, auto (follow the
    # user), or off (no language policy). Send it with the openai SDK as extra_body={"reply_lang": "yue"}.
    reply_lang: str | None = Field(None, max_length=16)

    def payload(self, *, model: str, stream: bool) -> dict[str, Any]:
        """The JSON body sent to an OpenAI-compatible server."""
        body = self.model_dump(exclude_none=True, exclude={"model", "stream", "stream_options", "reply_lang"})
        body["messages"] = [m.model_dump(exclude_none=True) for m in self.messages]
        if "max_completion_tokens" in body:
            body.setdefault("max_tokens", body.pop("max_completion_tokens"))
        body["model"] = model
        body["stream"] = stream
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body


@dataclass
class EngineHealth:
    ok: bool
    detail: str
    models: list[str] = field(default_factory=list)


@runtime_checkable
class Engine(Protocol):
    """What every model backend offers. Nothing above this layer knows which backend it talks to."""

    name: str

    async def complete(self, request: ChatRequest) -> dict[str, Any]: ...

    def stream(self, request: ChatRequest) -> AsyncIterator[dict[str, Any]]: ...

    async def list_models(self) -> list[dict[str, Any]]: ...

    async def health(self) -> EngineHealth: ...

    async def aclose(self) -> None: ...


def completion_text(completion: dict[str, Any]) -> str:
    """The assistant text of a non-streamed completion."""
    choices = completion.get("choices") or []
    if not choices:
        return ""
    return (choices[0].get("message") or {}).get("content") or ""


async def chat_text(engine: Engine, messages: list[dict[str, Any]], **options: Any) -> str:
    """Convenience for services: send ``messages`` and return the reply text."""
    request = ChatRequest(messages=[ChatMessage(**m) for m in messages], **options)
    return completion_text(await engine.complete(request))


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def sse_data(buffer: bytes) -> tuple[list[bytes], bytes]:
    """The ``data:`` payloads (stripped) of the complete lines in ``buffer``, and the unfinished rest."""
    *lines, rest = buffer.split(b"\n")
    return [line[5:].strip() for line in lines if line.startswith(b"data:")], rest


def parse_response_head(head: bytes) -> tuple[int, dict[str, str]]:
    """(status, headers with lower-case names) of an HTTP/1.x response head."""
    status_line, *lines = head.decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    if not version.startswith("HTTP/") or not rest[:3].isdigit():
        raise EngineError(f"engine answered something that is not HTTP: {status_line[:80]!r}")
    headers = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(rest[:3]), headers


class OpenAICompatibleEngine:
    """An engine reached over the OpenAI-compatible HTTP API (``base_url`` ends in ``/v1``).

    A stream from a plain-HTTP server on this machine (the embedded llama.cpp server) is read with asyncio's
    own streams instead of httpx: about half the CPU of reading each token (httpx and httpcore re-arm a cancel
    scope and the socket's reader on every read), a third of the server's CPU per streamed token in all
    (bench/RESULTS.md), and on a small machine every millisecond spent here is one the model does not get.
    Everything else goes through httpx.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        model: str | None = None,
        timeout_s: float = 300.0,
        name: str = "openai-compatible",
        unavailable_hint: str = "",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = name
        self.default_model = model
        self.unavailable_hint = unavailable_hint
        self.timeout_s = timeout_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._headers = headers
        url = urlsplit(self.base_url)
        self._loopback = url.scheme == "http" and url.hostname in LOOPBACK_HOSTS
        self._client = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=httpx.Timeout(timeout_s, connect=5.0)
        )

    async def _model_for(self, request: ChatRequest) -> str:
        if request.model:
            return request.model
        if self.default_model:
            return self.default_model
        models = await self.list_models()
        if not models:
            raise EngineUnavailable(f"engine at {self.base_url} lists no models")
        return str(models[0]["id"])

    def _unavailable(self, exc: Exception) -> EngineUnavailable:
        hint = f" {self.unavailable_hint}" if self.unavailable_hint else ""
        return EngineUnavailable(f"model engine at {self.base_url} is not reachable ({type(exc).__name__}).{hint}")

    @staticmethod
    def _raise_for(response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        try:
            detail = response.json().get("error", {})
            message = detail.get("message") if isinstance(detail, dict) else str(detail)
        except (ValueError, AttributeError):
            message = response.text[:500]
        message = f"engine answered {response.status_code}: {message or response.reason_phrase}"
        if response.status_code == 503:
            raise EngineUnavailable(message)
        if 400 <= response.status_code < 500:
            raise InvalidRequest(message, code="engine_rejected")
        raise EngineError(message)

    async def complete(self, request: ChatRequest) -> dict[str, Any]:
        body = request.payload(model=await self._model_for(request), stream=False)
        try:
            response = await self._client.post("/chat/completions", json=body)
        except httpx.TransportError as exc:
            raise self._unavailable(exc) from exc
        self._raise_for(response)
        completion: dict[str, Any] = response.json()
        return completion

    async def stream(self, request: ChatRequest) -> AsyncIterator[dict[str, Any]]:
        body = request.payload(model=await self._model_for(request), stream=True)
        if self._loopback:
            async with aclosing(self._stream_loopback(body)) as chunks:  # closed (and its socket) at once
                async for chunk in chunks:
                    yield chunk
            return
        try:
            async with self._client.stream("POST", "/chat/completions", json=body) as response:
                if response.status_code >= 400:
                    await response.aread()
                    self._raise_for(response)
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    yield json.loads(data)
        except httpx.TransportError as exc:
            raise self._unavailable(exc) from exc

    async def _stream_loopback(self, body: dict[str, Any]) -> AsyncGenerator[dict[str, Any], None]:
        """``stream`` from a plain-HTTP server on this machine: one HTTP/1.1 request on a connection of its
        own, the response body read straight from an asyncio stream (chunked, sized, or up to the close)."""
        url = urlsplit(self.base_url)
        payload = json.dumps(body, ensure_ascii=False).encode()
        head = [f"POST {url.path}/chat/completions HTTP/1.1", f"Host: {url.netloc}", "Connection: close",
                "Content-Type: application/json", "Accept: text/event-stream", f"Content-Length: {len(payload)}",
                *(f"{name}: {value}" for name, value in self._headers.items())]
        try:
            async with asyncio.timeout(5.0):
                reader, writer = await asyncio.open_connection(url.hostname, url.port or 80, limit=1 << 20)
        except (OSError, TimeoutError) as exc:
            raise self._unavailable(exc) from exc
        try:
            writer.write("\r\n".join([*head, "", ""]).encode("latin-1") + payload)
            async with asyncio.timeout(self.timeout_s):
                status, headers = parse_response_head(await reader.readuntil(b"\r\n\r\n"))
            async with aclosing(self._body(reader, headers)) as parts:
                if status >= 400:
                    content = b"".join([part async for part in parts])
                    self._raise_for(httpx.Response(status, headers=headers, content=content))
                rest = b""
                async for part in parts:
                    events, rest = sse_data(rest + part)
                    for data in events:
                        if data == b"[DONE]":
                            return
                        yield json.loads(data)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            raise self._unavailable(exc) from exc
        finally:
            writer.close()

    async def _body(self, reader: asyncio.StreamReader, headers: dict[str, str]) -> AsyncGenerator[bytes, None]:
        """A response body as it arrives; each wait for data is bounded by ``timeout_s``."""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                async with asyncio.timeout(self.timeout_s):
                    size_line = await reader.readuntil(b"\r\n")
                    try:
                        size = int(size_line.split(b";", 1)[0], 16)
                    except ValueError:
                        raise EngineError(f"engine sent a malformed chunk size: {size_line[:40]!r}") from None
                    data = await reader.readexactly(size + 2) if size else b""
                if not size:
                    return
                yield data[:-2]
        left = int(headers["content-length"]) if "content-length" in headers else -1  # -1: up to the close
        while left:
            async with asyncio.timeout(self.timeout_s):
                data = await reader.read(65536 if left < 0 else min(left, 65536))
            if not data:
                if left > 0:
                    raise asyncio.IncompleteReadError(b"", left)
                return
            left = max(left - len(data), 0) if left > 0 else left
            yield data

    async def list_models(self) -> list[dict[str, Any]]:
        try:
            response = await self._client.get("/models")
        except httpx.TransportError as exc:
            raise self._unavailable(exc) from exc
        self._raise_for(response)
        return list(response.json().get("data", []))

    async def health(self) -> EngineHealth:
        try:
            models = [m["id"] for m in await self.list_models()]
        except (EngineUnavailable, EngineError, InvalidRequest) as exc:
            return EngineHealth(ok=False, detail=str(exc))
        return EngineHealth(ok=True, detail=f"{self.base_url} serves {len(models)} model(s)", models=models)

    async def aclose(self) -> None:
        await self._client.aclose()


Reply = str | Callable[[ChatRequest], str] | Exception


class FakeEngine:
    """Replays queued replies; records every request. For unit tests only.

    A reply is a string, a function of the request returning a string, or an exception to raise.
    With ``default`` set, an empty queue answers with it instead of failing.
    """

    name = "fake"

    def __init__(self, replies: list[Reply] | None = None, *, default: Reply | None = None, model: str = "fake"):
        self.queue: deque[Reply] = deque(replies or [])
        self.default = default
        self.model = model
        self.requests: list[ChatRequest] = []
        self.healthy = True

    def add(self, *replies: Reply) -> None:
        self.queue.extend(replies)

    def _next_text(self, request: ChatRequest) -> str:
        self.requests.append(request)
        if not self.healthy:
            raise EngineUnavailable("fake engine is down")
        if self.queue:
            reply = self.queue.popleft()
        elif self.default is not None:
            reply = self.default
        else:
            raise EngineError("FakeEngine has no queued reply left")
        if isinstance(reply, Exception):
            raise reply
        return reply(request) if callable(reply) else reply

    def _usage(self, request: ChatRequest, text: str) -> dict[str, int]:
        prompt = sum(len(m.text().split()) for m in request.messages)
        completion = len(text.split())
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    async def complete(self, request: ChatRequest) -> dict[str, Any]:
        text = self._next_text(request)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model or self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": self._usage(request, text),
        }

    async def stream(self, request: ChatRequest) -> AsyncIterator[dict[str, Any]]:
        text = self._next_text(request)
        cid, created, model = f"chatcmpl-{uuid.uuid4().hex[:12]}", int(time.time()), request.model or self.model
        pieces = [text[i : i + 4] for i in range(0, len(text), 4)] or [""]
        for i, piece in enumerate(pieces):
            delta: dict[str, Any] = {"content": piece}
            if i == 0:
                delta["role"] = "assistant"
            yield {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
        yield {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
               "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": self._usage(request, text)}

    async def list_models(self) -> list[dict[str, Any]]:
        return [{"id": self.model, "object": "model", "created": 0, "owned_by": "hkllm"}]

    async def health(self) -> EngineHealth:
        return EngineHealth(ok=self.healthy, detail="fake engine", models=[self.model])

    async def aclose(self) -> None:
        return None
