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
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hkllm.errors import EngineError, EngineUnavailable, InvalidRequest, redact, summarise


class ChatMessage(BaseModel):
    """One Chat Completions message: ``content`` a string or a list of parts (``{"type": "text", "text": …}``
    and, for engines that take them, image or audio parts); an assistant turn may carry ``tool_calls``, a
    ``tool`` turn answers one by its ``tool_call_id``. Other fields pass through."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    def text(self) -> str:
        """The message's text, joining the text parts of a multi-part content list."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(str(part.get("text", "")) for part in self.content if part.get("type") == "text")

    def only_text(self) -> bool:
        """Whether the content is a string, nothing, or text parts only."""
        return not isinstance(self.content, list) or all(part.get("type") == "text" for part in self.content)

    def wire(self) -> dict[str, Any]:
        """The message as every OpenAI-compatible server takes it: text parts joined into one string (a
        server that reads only string content, as llama.cpp's chat templates do, would drop them) and
        ``developer`` sent as ``system`` (what OpenAI itself does for models without a developer role)."""
        out = self.model_dump(exclude_none=True)
        if self.role == "developer":
            out["role"] = "system"
        if isinstance(self.content, list) and self.only_text():
            out["content"] = self.text()
        return out


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
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    n: int | None = Field(None, ge=1, le=128)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    user: str | None = None
    # hkllm extension (not forwarded): reply language — yue, zh-Hant, zh-Hans, en, auto (follow the
    # user), or off (no language policy). Send it with the openai SDK as extra_body={"reply_lang": "yue"}.
    reply_lang: str | None = Field(None, max_length=16)
    # OpenAI parameters hkllm cannot honour: refused by name (400, ``param``) rather than ignored.
    functions: Any = Field(None, exclude=True, description="Not supported: use tools")
    function_call: Any = Field(None, exclude=True, description="Not supported: use tool_choice")
    logprobs: bool | None = Field(None, exclude=True, description="Not supported when true")
    top_logprobs: int | None = Field(None, exclude=True, description="Not supported")
    logit_bias: dict[str, float] | None = Field(None, exclude=True, description="Not supported when not empty")

    @field_validator("functions", "function_call", "logprobs", "top_logprobs", "logit_bias")
    @classmethod
    def _refused(cls, value: Any) -> Any:
        if value not in (None, False, {}, 0):
            raise ValueError("not supported by hkllm (for functions and function_call, use tools and tool_choice)")
        return value

    def wants_stream_usage(self) -> bool:
        """Whether the client asked for a final usage chunk (``stream_options.include_usage``)."""
        return bool((self.stream_options or {}).get("include_usage"))

    def payload(self, *, model: str, stream: bool) -> dict[str, Any]:
        """The JSON body sent to an OpenAI-compatible server."""
        body = self.model_dump(exclude_none=True, exclude={"model", "stream", "stream_options", "reply_lang", "n"})
        body["messages"] = [m.wire() for m in self.messages]
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


def llama_cpp_python_body(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` (a ``ChatRequest.payload``) in the form llama-cpp-python's server takes, or ``InvalidRequest``
    naming what it cannot do. Its chat templates read string content and the user, assistant and first
    system turns only (so every system text is merged into that first turn); it constrains JSON by ``{"type": "json_object", "schema": …}``; it calls a tool only
    when ``tool_choice`` names one (it cannot choose among tools itself, so ``auto`` would ignore them)."""
    body = dict(body)
    messages: list[dict[str, Any]] = []
    for i, message in enumerate(body["messages"]):
        if isinstance(message.get("content"), list):
            raise InvalidRequest("the embedded llama.cpp engine takes text content only (no image, audio or "
                                 "file parts)", param=f"messages[{i}].content", code="unsupported_content")
        message = dict(message)
        if message["role"] == "assistant" and message.get("tool_calls"):
            calls = [call.get("function", {}) for call in message.pop("tool_calls")]
            message["content"] = "\n".join(filter(None, [message.get("content"), json.dumps(calls, ensure_ascii=False)]))
        elif message["role"] == "tool":  # the template has no tool turn: the result goes to the model as user text
            message = {"role": "user", "content": f"Tool result ({message.get('tool_call_id', 'call')}):\n"
                                                  f"{message.get('content') or ''}"}
        messages.append(message)
    # The chatml template keeps the first system turn only: every system text (the caller's, the
    # reply-language instruction) goes into that one turn, in order, instead of being dropped.
    systems = [m for m in messages if m["role"] == "system"]
    if len(systems) > 1:
        merged = {"role": "system", "content": "\n\n".join(str(m.get("content") or "") for m in systems)}
        messages = [merged, *(m for m in messages if m["role"] != "system")]
    body["messages"] = messages
    response_format = body.get("response_format")
    if response_format is not None:
        kind = response_format.get("type")
        if kind == "text":
            body.pop("response_format")
        elif kind == "json_schema":
            schema = (response_format.get("json_schema") or {}).get("schema")
            body["response_format"] = {"type": "json_object", **({"schema": schema} if schema else {})}
        elif kind != "json_object":
            raise InvalidRequest(f"response_format type {kind!r} is not one of text, json_object, json_schema",
                                 param="response_format", code="unsupported_parameter")
    tools, choice = body.get("tools"), body.get("tool_choice")
    if choice == "none" or not tools:
        body.pop("tools", None)
        body.pop("tool_choice", None)
    else:
        if choice == "required" and len(tools) == 1:
            choice = body["tool_choice"] = {"type": "function", "function": tools[0].get("function", {})}
        if not isinstance(choice, dict):
            raise InvalidRequest("the embedded llama.cpp engine cannot choose among tools; name the one to call "
                                 "with tool_choice={'type': 'function', 'function': {'name': …}}, or use an engine "
                                 "with tool calling (HKLLM_ENGINE_URL)", param="tools", code="unsupported_parameter")
        name = (choice.get("function") or {}).get("name")
        if name not in {(tool.get("function") or {}).get("name") for tool in tools}:
            raise InvalidRequest(f"tool_choice names {name!r}, which is not among the tools",
                                 param="tool_choice")
        body["tool_choice"] = {"type": "function", "function": {"name": name}}
    body.pop("parallel_tool_calls", None)
    return body


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

    ``dialect`` says what the server takes: ``openai`` (bodies as clients send them) or ``llama-cpp-python``
    (bodies mapped by ``llama_cpp_python_body``; the embedded engine). Errors name no URL or path: the
    engine's own text goes into the exception's ``detail``, which the API writes to the server log only.
    """

    dialect: Literal["openai", "llama-cpp-python"] = "openai"

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
            raise EngineUnavailable("the model engine lists no models", detail=f"engine at {self.base_url}")
        return str(models[0]["id"])

    def _unavailable(self, exc: Exception) -> EngineUnavailable:
        hint = f" {self.unavailable_hint}" if self.unavailable_hint else ""
        return EngineUnavailable(f"the model engine is not reachable ({type(exc).__name__}).{redact(hint)}",
                                 detail=f"engine at {self.base_url}: {exc!r}.{hint}")

    @staticmethod
    def _raise_for(response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        try:
            detail = response.json().get("error", {})
            message = detail.get("message") if isinstance(detail, dict) else str(detail)
        except (ValueError, AttributeError):
            message = None
        message = message or response.text[:2000]  # e.g. FastAPI's {"detail": [...]} from llama-cpp-python
        full = f"engine answered {response.status_code}: {message or response.reason_phrase}"
        short = f"engine answered {response.status_code}: {summarise(message or '') or response.reason_phrase}"
        if response.status_code == 503:
            raise EngineUnavailable(short, detail=full)
        if 400 <= response.status_code < 500:
            raise InvalidRequest(short, code="engine_rejected", detail=full)
        raise EngineError(short, detail=full)

    async def body_for(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        """The JSON body this engine is sent for ``request``."""
        body = request.payload(model=await self._model_for(request), stream=stream)
        return llama_cpp_python_body(body) if self.dialect == "llama-cpp-python" else body

    async def complete(self, request: ChatRequest) -> dict[str, Any]:
        body = await self.body_for(request, stream=False)
        try:
            response = await self._client.post("/chat/completions", json=body)
        except httpx.TransportError as exc:
            raise self._unavailable(exc) from exc
        self._raise_for(response)
        completion: dict[str, Any] = response.json()
        return completion

    async def stream(self, request: ChatRequest) -> AsyncIterator[dict[str, Any]]:
        body = await self.body_for(request, stream=True)
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
            return EngineHealth(ok=False, detail=redact(str(exc)))
        return EngineHealth(ok=True, detail=f"the engine serves {len(models)} model(s)", models=models)

    async def aclose(self) -> None:
        await self._client.aclose()


Reply = str | dict[str, Any] | Callable[[ChatRequest], str] | Exception


class FakeEngine:
    """Replays queued replies; records every request. For unit tests only.

    A reply is a string, an assistant message (a dict, e.g. with ``tool_calls``), a function of the request
    returning a string, or an exception to raise. With ``default`` set, an empty queue answers with it
    instead of failing.
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

    def _next_message(self, request: ChatRequest) -> dict[str, Any]:
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
        if isinstance(reply, dict):
            return {"role": "assistant", "content": None, **reply}
        return {"role": "assistant", "content": reply(request) if callable(reply) else reply}

    def _usage(self, request: ChatRequest, text: str) -> dict[str, int]:
        prompt = sum(len(m.text().split()) for m in request.messages)
        completion = len(text.split())
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    async def complete(self, request: ChatRequest) -> dict[str, Any]:
        message = self._next_message(request)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model or self.model,
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if message.get("tool_calls") else "stop"}],
            "usage": self._usage(request, message.get("content") or ""),
        }

    async def stream(self, request: ChatRequest) -> AsyncIterator[dict[str, Any]]:
        message = self._next_message(request)
        text = message.get("content") or ""
        cid, created, model = f"chatcmpl-{uuid.uuid4().hex[:12]}", int(time.time()), request.model or self.model
        deltas: list[dict[str, Any]] = [{"content": text[i : i + 4]} for i in range(0, len(text), 4)] or [{}]
        deltas[0] = {"role": "assistant", **deltas[0]}
        if message.get("tool_calls"):
            deltas.append({"tool_calls": [{"index": i, **call} for i, call in enumerate(message["tool_calls"])]})
        for delta in deltas:
            if "content" not in delta and "tool_calls" not in delta:
                delta["content"] = ""
            yield {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        yield {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
               "choices": [{"index": 0, "delta": {}, "finish_reason": finish}], "usage": self._usage(request, text)}

    async def list_models(self) -> list[dict[str, Any]]:
        return [{"id": self.model, "object": "model", "created": 0, "owned_by": "hkllm"}]

    async def health(self) -> EngineHealth:
        return EngineHealth(ok=self.healthy, detail="fake engine", models=[self.model])

    async def aclose(self) -> None:
        return None
