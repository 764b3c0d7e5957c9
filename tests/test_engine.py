"""OpenAICompatibleEngine against a real (stdlib) HTTP server, and FakeEngine's queue."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hkllm.engine import (
    ChatMessage,
    ChatRequest,
    Engine,
    FakeEngine,
    OpenAICompatibleEngine,
    chat_text,
    completion_text,
    sse_data,
)
from hkllm.errors import EngineError, EngineUnavailable, InvalidRequest
from tests.conftest import free_port


@pytest.fixture(scope="module")
def echo_url():
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("fake_openai_server.py")), str(port)],
                            stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(100):
        try:
            httpx.get(url + "/models", timeout=0.5)
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    yield url
    proc.kill()


def req(text: str, **kw) -> ChatRequest:
    return ChatRequest(messages=[ChatMessage(role="user", content=text)], **kw)


async def test_http_engine_complete_stream_models_health(echo_url):
    engine = OpenAICompatibleEngine(echo_url)
    assert isinstance(engine, Engine)
    completion = await engine.complete(req("早晨"))
    assert completion["choices"][0]["message"]["content"] == "echo: 早晨"
    assert completion["model"] == "echo"  # default model: the first listed
    chunks = [c async for c in engine.stream(req("hello there"))]
    assert "".join(c["choices"][0]["delta"]["content"] for c in chunks) == "echo: hello there"
    assert [m["id"] for m in await engine.list_models()] == ["echo"]
    assert (await engine.health()).ok
    assert await chat_text(engine, [{"role": "user", "content": "hi"}], max_tokens=5) == "echo: hi"
    await engine.aclose()


async def test_http_engine_maps_errors(echo_url):
    engine = OpenAICompatibleEngine(echo_url)
    with pytest.raises(InvalidRequest, match="refuses 'bad'"):
        await engine.complete(req("bad"))
    with pytest.raises(InvalidRequest, match="refuses 'bad'"):
        [c async for c in engine.stream(req("bad"))]
    await engine.aclose()
    down = OpenAICompatibleEngine(f"http://127.0.0.1:{free_port()}/v1", model="m", unavailable_hint="Start it.")
    with pytest.raises(EngineUnavailable, match="not reachable.*Start it"):
        await down.complete(req("hi"))
    with pytest.raises(EngineUnavailable):
        [c async for c in down.stream(req("hi"))]
    health = await down.health()
    assert not health.ok and "not reachable" in health.detail
    await down.aclose()


def test_payload_maps_max_completion_tokens_and_requests_usage():
    body = req("x", max_completion_tokens=7, temperature=0).payload(model="m", stream=True)
    assert body["max_tokens"] == 7 and "max_completion_tokens" not in body
    assert body["stream_options"] == {"include_usage": True} and body["temperature"] == 0


async def test_fake_engine_queue_function_and_errors():
    fake = FakeEngine(["one", lambda r: r.messages[-1].text().upper(), EngineError("boom")])
    assert (await fake.complete(req("a")))["choices"][0]["message"]["content"] == "one"
    assert (await fake.complete(req("shout")))["choices"][0]["message"]["content"] == "SHOUT"
    with pytest.raises(EngineError, match="boom"):
        await fake.complete(req("c"))
    with pytest.raises(EngineError, match="no queued reply"):
        await fake.complete(req("d"))
    assert [r.messages[-1].text() for r in fake.requests] == ["a", "shout", "c", "d"]


# -- streams from a server on this machine: read with asyncio streams, not httpx ----------------------


def sse_event(content: str) -> bytes:
    chunk = {"id": "x", "object": "chat.completion.chunk",
             "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}
    return f"data: {json.dumps(chunk, ensure_ascii=False)}\r\n\r\n".encode()


def http_chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def raw_server(respond) -> tuple[asyncio.Server, str, list[bytes]]:
    """A loopback server whose connections are answered by ``respond(reader, writer)``; keeps each request."""
    requests: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length"))
        requests.append(head + await reader.readexactly(length))
        try:
            await respond(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1", requests


async def test_loopback_stream_reads_chunked_sse_split_anywhere():
    events = [sse_event("維多利亞港"), b": keep-alive comment\r\n\r\n", sse_event("係香港嘅"),
              sse_event(" harbour"), b"data: [DONE]\r\n\r\n", sse_event("after done is ignored")]
    body = b"".join(events)
    pieces = [body[:7], body[7:70], body[70:71], body[71:]]  # cut inside a prefix, a JSON value, a character

    async def respond(_reader, writer):
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for piece in pieces:
            writer.write(http_chunk(piece))
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(b"0\r\n\r\n")

    server, url, requests = await raw_server(respond)
    async with server:
        engine = OpenAICompatibleEngine(url, api_key="sk-local", model="m")
        chunks = [c async for c in engine.stream(req("你好"))]
        await engine.aclose()
    assert [c["choices"][0]["delta"]["content"] for c in chunks] == ["維多利亞港", "係香港嘅", " harbour"]
    head, _, sent = requests[0].partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert b"\r\nAuthorization: Bearer sk-local" in head
    sent_body = json.loads(sent)
    assert sent_body["stream"] is True and sent_body["model"] == "m"
    assert sent_body["messages"] == [{"role": "user", "content": "你好"}]


@pytest.mark.parametrize(("status", "error"),
                         [(503, EngineUnavailable), (400, InvalidRequest), (500, EngineError)])
async def test_loopback_stream_maps_error_statuses(status, error):
    async def respond(_reader, writer):
        message = json.dumps({"error": {"message": "模型未準備好"}}).encode()
        head = f"HTTP/1.1 {status} X\r\ntransfer-encoding: chunked\r\n\r\n".encode()
        writer.write(head + http_chunk(message) + b"0\r\n\r\n")

    server, url, _ = await raw_server(respond)
    async with server:
        engine = OpenAICompatibleEngine(url, model="m")
        with pytest.raises(error, match=f"engine answered {status}: 模型未準備好"):
            [c async for c in engine.stream(req("hi"))]
        await engine.aclose()


async def test_loopback_stream_times_out_on_a_silent_server_and_rejects_non_http():
    async def silent(reader, writer):
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + http_chunk(sse_event("一")))
        await reader.read()  # then nothing until the client goes

    server, url, _ = await raw_server(silent)
    async with server:
        engine = OpenAICompatibleEngine(url, model="m", timeout_s=0.3)
        with pytest.raises(EngineUnavailable, match="TimeoutError"):
            [c async for c in engine.stream(req("hi"))]

    async def garbage(_reader, writer):
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")

    server, url, _ = await raw_server(garbage)
    async with server:
        with pytest.raises(EngineError, match="not HTTP"):
            [c async for c in OpenAICompatibleEngine(url, model="m").stream(req("hi"))]


async def test_loopback_stream_closes_the_connection_when_the_caller_stops():
    closed = asyncio.Event()

    async def endless(_reader, writer):
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        try:
            for i in range(500):
                writer.write(http_chunk(sse_event(str(i))))
                await writer.drain()
                await asyncio.sleep(0.01)
        except ConnectionError:  # the client hung up
            closed.set()

    server, url, _ = await raw_server(endless)
    async with server:
        stream = OpenAICompatibleEngine(url, model="m").stream(req("hi"))
        first = await anext(stream)
        await stream.aclose()
        await asyncio.wait_for(closed.wait(), 3)
    assert first["choices"][0]["delta"]["content"] == "0"


def test_sse_data_keeps_unfinished_lines():
    assert sse_data(b"data: {\"a\": 1}\n\ndata: [DONE]\n") == ([b'{"a": 1}', b"[DONE]"], b"")
    assert sse_data(b"data: {\"a\": 1}\r\n\r\ndata: {\"b\"") == ([b'{"a": 1}'], b'data: {"b"')
    assert sse_data(b": comment\nevent: x\n") == ([], b"")


async def test_http_engine_sends_content_parts_as_the_text_they_hold(echo_url):
    """The stdlib server, like llama.cpp's templates, reads string content only: parts must arrive joined."""
    engine = OpenAICompatibleEngine(echo_url)
    parts = [{"type": "text", "text": "早晨，"}, {"type": "text", "text": "請問"}]
    request = ChatRequest(messages=[ChatMessage(role="developer", content="Be brief."),
                                    ChatMessage(role="user", content=parts)])
    assert completion_text(await engine.complete(request)) == "echo: 早晨，請問"
    chunks = [c async for c in engine.stream(request)]
    assert "".join(c["choices"][0]["delta"]["content"] for c in chunks) == "echo: 早晨，請問"
    await engine.aclose()


def test_fake_engine_replays_an_assistant_message_with_tool_calls():
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    engine = FakeEngine([{"tool_calls": [call]}])
    choice = asyncio.run(engine.complete(req("x")))["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": None, "tool_calls": [call]}
    assert choice["finish_reason"] == "tool_calls"
