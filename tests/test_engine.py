"""OpenAICompatibleEngine against a real (stdlib) HTTP server, and FakeEngine's queue."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hkllm.engine import ChatMessage, ChatRequest, Engine, FakeEngine, OpenAICompatibleEngine, chat_text
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
