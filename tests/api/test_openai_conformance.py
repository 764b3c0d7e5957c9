"""OpenAI Chat Completions conformance (issue 11, items 1 and 2): every message shape the API accepts, the
parameters an engine cannot take mapped or refused by name (never ignored), stream usage, one model by id,
embeddings from the knowledge base's embedder, and errors that name no traceback, path or internal URL.

Two engines: the FakeEngine (what the service does), and an ``OpenAICompatibleEngine`` over an httpx mock
transport (the exact body each engine dialect is sent, and what the API makes of an engine's errors).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from hkllm.api.app import build_app
from hkllm.engine import ChatRequest, FakeEngine, OpenAICompatibleEngine
from hkllm.errors import EngineError
from hkllm.settings import Settings

USER_TEXT = "請問 私隱條例 第 35C 條 講乜嘢"
PARTS = [{"type": "text", "text": "請問 私隱條例 "}, {"type": "text", "text": "第 35C 條 講乜嘢"}]
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a Hong Kong district",
    "parameters": {"type": "object", "properties": {"district": {"type": "string"}}, "required": ["district"]}}}
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
TRACEBACK = ('Traceback (most recent call last):\n  File "/opt/venv/lib/python3.11/site-packages/llama_cpp/'
             'llama_chat_format.py", line 710, in chat_completion_handler\n    raise ValueError(...)\n'
             "ValueError: Tool choice 'x' not found in tools. See http://10.0.0.7:8081/v1/debug")


class LlamaLikeEngine(OpenAICompatibleEngine):
    """The embedded engine's dialect, over a mock transport."""

    dialect = "llama-cpp-python"


def chat_completion(body: dict[str, Any], content: str = "好") -> dict[str, Any]:
    return {"id": "c1", "object": "chat.completion", "created": 1, "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}


def mock_engine(answer: Callable[[dict[str, Any]], httpx.Response], *, llama: bool,
                sent: list[dict[str, Any]]) -> OpenAICompatibleEngine:
    """An engine at an internal (non-loopback) address whose server is ``answer``; bodies land in ``sent``."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"object": "list", "data": [{"id": "m", "object": "model"}]})
        body = json.loads(request.content)
        sent.append(body)
        return answer(body)

    engine = (LlamaLikeEngine if llama else OpenAICompatibleEngine)("http://10.0.0.7:8081/v1", model="m")
    engine._client = httpx.AsyncClient(base_url=engine.base_url, transport=httpx.MockTransport(handler))
    return engine


def api(settings: Settings, engine: Any, **kw: Any) -> TestClient:
    settings.reply_lang = "off"
    return TestClient(build_app(settings, engine), **kw)


def sse_events(response: httpx.Response) -> list[dict[str, Any]]:
    datas = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
    assert datas[-1] == "[DONE]"
    return [json.loads(d) for d in datas[:-1]]


# -- message shapes ----------------------------------------------------------------------------------------


def test_content_parts_reach_the_model_as_the_same_text(client, fake_engine):
    fake_engine.add("一", "二")
    as_string = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": USER_TEXT}]})
    as_parts = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": PARTS}]})
    assert as_string.status_code == as_parts.status_code == 200
    assert as_parts.json()["usage"]["prompt_tokens"] == as_string.json()["usage"]["prompt_tokens"] > 0
    string_request, parts_request = fake_engine.requests
    assert [m.wire() for m in parts_request.messages] == [m.wire() for m in string_request.messages]


@pytest.mark.parametrize("llama", [False, True])
def test_engines_are_sent_string_content_and_system_for_developer(settings, llama):
    sent: list[dict[str, Any]] = []
    engine = mock_engine(lambda body: httpx.Response(200, json=chat_completion(body)), llama=llama, sent=sent)
    with api(settings, engine) as c:
        for content in (USER_TEXT, PARTS):
            r = c.post("/v1/chat/completions", json={"model": "m", "messages": [
                {"role": "developer", "content": [{"type": "text", "text": "Answer briefly."}]},
                {"role": "user", "content": content}]})
            assert r.status_code == 200, r.text
    assert sent[0]["messages"] == sent[1]["messages"] == [
        {"role": "system", "content": "Answer briefly."}, {"role": "user", "content": USER_TEXT}]


def test_llama_cpp_chat_template_sees_parts_and_developer_text():
    """What llama-cpp-python's own chatml template makes of the body the embedded engine is sent."""
    format_chatml = pytest.importorskip("llama_cpp.llama_chat_format").format_chatml

    async def prompt(messages: list[dict[str, Any]]) -> str:
        engine = LlamaLikeEngine("http://127.0.0.1:9/v1", model="m")
        body = await engine.body_for(ChatRequest(messages=messages), stream=False)
        await engine.aclose()
        return str(format_chatml(messages=body["messages"]).prompt)

    with_string = asyncio.run(prompt([{"role": "developer", "content": "Be brief."},
                                      {"role": "user", "content": USER_TEXT}]))
    with_parts = asyncio.run(prompt([{"role": "developer", "content": "Be brief."},
                                     {"role": "user", "content": PARTS}]))
    assert with_parts == with_string and "Be brief." in with_string and USER_TEXT in with_string


def test_tool_turns_and_assistant_tool_calls_are_accepted(settings):
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"district": "沙田"}'}}
    messages = [{"role": "system", "content": "You help."}, {"role": "user", "content": "沙田天氣？"},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "call_1", "content": "晴，28 度"}]
    for llama in (False, True):
        sent: list[dict[str, Any]] = []
        engine = mock_engine(lambda body: httpx.Response(200, json=chat_completion(body)), llama=llama, sent=sent)
        with api(settings, engine) as c:
            assert c.post("/v1/chat/completions", json={"model": "m", "messages": messages}).status_code == 200
        if llama:  # the chatml template has no tool turn: the call and its result reach the model as text
            assert [m["role"] for m in sent[0]["messages"]] == ["system", "user", "assistant", "user"]
            assert "get_weather" in sent[0]["messages"][2]["content"] and "晴，28 度" in sent[0]["messages"][3]["content"]
        else:
            assert sent[0]["messages"][2]["tool_calls"] == [call] and sent[0]["messages"][3]["tool_call_id"] == "call_1"


# -- parameters: mapped, passed through, or refused by name --------------------------------------------------


def test_json_schema_becomes_llama_cpp_schema_constrained_json(settings):
    fmt = {"type": "json_schema", "json_schema": {"name": "Answer", "schema": SCHEMA, "strict": True}}
    for llama, expected in ((True, {"type": "json_object", "schema": SCHEMA}), (False, fmt)):
        sent: list[dict[str, Any]] = []
        engine = mock_engine(lambda body: httpx.Response(200, json=chat_completion(body, '{"answer": "好"}')),
                             llama=llama, sent=sent)
        with api(settings, engine) as c:
            r = c.post("/v1/chat/completions", json={"model": "m", "response_format": fmt,
                                                     "messages": [{"role": "user", "content": "答我"}]})
        assert r.status_code == 200 and json.loads(r.json()["choices"][0]["message"]["content"]) == {"answer": "好"}
        assert sent[0]["response_format"] == expected


def test_tools_reach_an_engine_that_takes_them_and_tool_calls_come_back(client, fake_engine):
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"district": "沙田"}'}}
    fake_engine.add({"tool_calls": [call]}, {"tool_calls": [call]})
    body = {"messages": [{"role": "user", "content": "沙田天氣？"}], "tools": [WEATHER_TOOL], "tool_choice": "auto"}
    r = client.post("/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    choice = r.json()["choices"][0]
    assert choice["message"]["tool_calls"] == [call] and choice["finish_reason"] == "tool_calls"
    assert fake_engine.requests[0].tools == [WEATHER_TOOL] and fake_engine.requests[0].tool_choice == "auto"
    events = sse_events(client.post("/v1/chat/completions", json={**body, "stream": True}))
    streamed = [c for e in events for ch in e["choices"] for c in ch["delta"].get("tool_calls") or []]
    assert streamed == [{"index": 0, **call}]


def test_llama_cpp_engine_calls_a_named_tool_and_refuses_tools_it_cannot_choose_among(settings):
    sent: list[dict[str, Any]] = []
    engine = mock_engine(lambda body: httpx.Response(200, json=chat_completion(body)), llama=True, sent=sent)
    messages = [{"role": "user", "content": "沙田天氣？"}]
    with api(settings, engine) as c:
        for choice in (None, "auto"):
            r = c.post("/v1/chat/completions", json={"model": "m", "messages": messages, "tools": [WEATHER_TOOL],
                                                     **({"tool_choice": choice} if choice else {})})
            assert r.status_code == 400 and r.json()["error"]["param"] == "tools", r.text
        assert sent == []  # refused before the engine was asked
        named = {"type": "function", "function": {"name": "get_weather"}}
        for choice in (named, "required"):
            r = c.post("/v1/chat/completions", json={"model": "m", "messages": messages, "tools": [WEATHER_TOOL],
                                                     "tool_choice": choice})
            assert r.status_code == 200, r.text
        assert [b["tool_choice"] for b in sent] == [named, named]
        r = c.post("/v1/chat/completions", json={"model": "m", "messages": messages, "tools": [WEATHER_TOOL],
                                                 "tool_choice": {"type": "function", "function": {"name": "other"}}})
        assert r.status_code == 400 and r.json()["error"]["param"] == "tool_choice"
        r = c.post("/v1/chat/completions", json={"model": "m", "messages": messages, "tools": [WEATHER_TOOL],
                                                 "tool_choice": "none"})
        assert r.status_code == 200 and "tools" not in sent[-1] and "tool_choice" not in sent[-1]
        r = c.post("/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]})
        assert r.status_code == 400 and r.json()["error"]["param"] == "messages[0].content"


def test_n_above_one_is_refused_by_name(client, fake_engine):
    fake_engine.add("好")
    r = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}], "n": 2})
    assert r.status_code == 400 and r.json()["error"]["param"] == "n"
    assert fake_engine.requests == []
    ok = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}], "n": 1})
    assert ok.status_code == 200 and len(ok.json()["choices"]) == 1


def test_stream_usage_comes_in_a_last_chunk_only_when_asked_for(client, fake_engine):
    fake_engine.add("早晨，你好嗎", "早晨，你好嗎")
    body = {"messages": [{"role": "user", "content": "早晨 早晨"}], "stream": True}
    plain = sse_events(client.post("/v1/chat/completions", json=body))
    assert all("usage" not in e for e in plain)
    asked = sse_events(client.post("/v1/chat/completions",
                                   json={**body, "stream_options": {"include_usage": True}}))
    *content, last = asked
    assert last["choices"] == [] and last["usage"]["prompt_tokens"] == 2 and last["usage"]["completion_tokens"] == 1
    assert all(e["usage"] is None and e["choices"] for e in content)
    assert "".join(e["choices"][0]["delta"].get("content") or "" for e in content) == "早晨，你好嗎"


def test_stream_usage_without_engine_usage_counts_the_streamed_tokens(settings):
    def stream(body: dict[str, Any]) -> httpx.Response:
        chunks = [{"id": "s", "object": "chat.completion.chunk", "created": 1, "model": "m",
                   "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                  for piece in ("早", "晨", "！")]
        text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})

    with api(settings, mock_engine(stream, llama=True, sent=[])) as c:
        events = sse_events(c.post("/v1/chat/completions", json={
            "model": "m", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "hi"}]}))
    assert events[-1]["choices"] == [] and events[-1]["usage"] == {"completion_tokens": 3}


def test_one_model_by_id(client):
    r = client.get("/v1/models/fake-model")
    assert r.status_code == 200 and r.json()["id"] == "fake-model" and r.json()["object"] == "model"
    missing = client.get("/v1/models/gpt-4o")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


# -- embeddings ----------------------------------------------------------------------------------------------


@pytest.fixture
def hash_client(settings: Settings, fake_engine: FakeEngine) -> Iterator[TestClient]:
    settings.kb_embedder = "hash"
    with api(settings, fake_engine) as c:
        yield c


def test_embeddings_from_the_knowledge_base_embedder(hash_client):
    kb = hash_client.app.state.kb
    one = hash_client.post("/v1/embeddings", json={"input": "個人資料私隱"})
    assert one.status_code == 200, one.text
    body = one.json()
    assert body["object"] == "list" and body["model"] == kb.embedder.name
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] == 6
    [item] = body["data"]
    assert item["object"] == "embedding" and item["index"] == 0
    assert np.allclose(item["embedding"], kb.embedder.embed_passages(["個人資料私隱"])[0], atol=1e-6)
    many = hash_client.post("/v1/embeddings", json={"input": ["早晨", "Good morning"], "model": kb.embedder.name,
                                                    "encoding_format": "base64"}).json()
    assert [d["index"] for d in many["data"]] == [0, 1]
    decoded = np.frombuffer(base64.b64decode(many["data"][1]["embedding"]), dtype="<f4")
    assert np.allclose(decoded, kb.embedder.embed_passages(["Good morning"])[0], atol=1e-6)
    unknown = hash_client.post("/v1/embeddings", json={"input": "x", "model": "text-embedding-3-small"})
    assert unknown.status_code == 404 and unknown.json()["error"]["param"] == "model"
    assert hash_client.post("/v1/embeddings", json={"input": []}).status_code == 400


def test_embeddings_are_refused_when_the_kb_embedder_is_none(settings, fake_engine):
    settings.kb_embedder = "none"
    with api(settings, fake_engine) as c:
        r = c.post("/v1/embeddings", json={"input": "hi"})
    assert r.status_code == 400 and "embedder is 'none'" in r.json()["error"]["message"]


# -- error hygiene -------------------------------------------------------------------------------------------


def assert_clean(text: str) -> None:
    for leak in ("Traceback", "File \"", "/opt/", "site-packages", "http://", "10.0.0.7", ".py"):
        assert leak not in text, (leak, text)


def test_engine_errors_are_summarised_and_logged_under_a_request_id(settings, caplog):
    caplog.set_level(logging.INFO, logger="hkllm.errors")
    engine = mock_engine(lambda body: httpx.Response(500, json={"error": {"message": TRACEBACK}}), llama=False,
                         sent=[])
    with api(settings, engine) as c:
        r = c.post("/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        streamed = c.post("/v1/chat/completions",
                          json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    for response in (r, streamed):
        assert response.status_code == 502
        assert_clean(response.text)
        message = response.json()["error"]["message"]
        assert "ValueError: Tool choice 'x' not found in tools" in message  # the engine's error, summarised
        request_id = response.headers["x-request-id"]
        assert request_id in message
        [record] = [rec for rec in caplog.records if request_id in rec.getMessage()]
        assert "site-packages/llama_cpp" in record.getMessage() and "http://10.0.0.7" in record.getMessage()


def test_unreachable_engine_names_no_internal_url(settings):
    engine = OpenAICompatibleEngine("http://127.0.0.1:9/v1", model="m", unavailable_hint="See /var/log/x.log.")
    with api(settings, engine) as c:
        r = c.post("/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        health = c.get("/health")
    assert r.status_code == 503 and "not reachable" in r.json()["error"]["message"]
    assert "127.0.0.1" not in r.text and "/var/log" not in r.text
    assert "127.0.0.1" not in health.text and "/var/log" not in health.text


def test_unexpected_errors_answer_an_envelope_without_a_traceback(settings, caplog):
    engine = FakeEngine(model="fake-model", default=RuntimeError("boom in /srv/hkllm/secret.py"))
    with api(settings, engine, raise_server_exceptions=False) as c:
        r = c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 500 and r.json()["error"]["type"] == "server_error"
    assert "secret" not in r.text and r.headers["x-request-id"] in r.json()["error"]["message"]
    assert any(r.headers["x-request-id"] in rec.getMessage() and rec.exc_info for rec in caplog.records)


def test_an_error_mid_stream_is_a_clean_event_with_a_request_id(settings, fake_engine, caplog):
    class BreaksMidStream(FakeEngine):
        async def stream(self, request: ChatRequest) -> Any:
            async for chunk in super().stream(request):
                yield chunk
                raise EngineError("engine answered 500: lost", detail=TRACEBACK)

    engine = BreaksMidStream(model="fake-model", default="早晨你好")
    with api(settings, engine) as c:
        r = c.post("/v1/chat/completions", json={"stream": True, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200
    *_, error = sse_events(r)
    assert_clean(r.text)
    assert error["error"]["code"] == "engine_error" and "lost" in error["error"]["message"]
    request_id = error["error"]["message"].split("request id ")[1].rstrip(")")
    assert any(request_id in rec.getMessage() and "site-packages" in rec.getMessage() for rec in caplog.records)


def test_an_engine_validation_error_is_summarised_not_dropped(settings):
    detail = {"detail": [{"type": "literal_error", "loc": ["body", "messages", 0, "role"],
                          "msg": "Input should be 'system', 'user' or 'assistant'"}]}
    engine = mock_engine(lambda body: httpx.Response(422, json=detail), llama=False, sent=[])
    with api(settings, engine) as c:
        r = c.post("/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "engine_rejected"
    assert "Input should be" in r.json()["error"]["message"]


def test_the_openai_sdk_sees_parts_tools_stream_usage_models_embeddings_and_errors(settings, fake_engine):
    """The real ``openai`` SDK over the app (a TestClient is an httpx client)."""
    openai = pytest.importorskip("openai")
    settings.kb_embedder = "hash"
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"district": "沙田"}'}}
    fake_engine.add("早晨", {"tool_calls": [call]}, "早晨你好")
    with api(settings, fake_engine) as c:
        sdk = openai.OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=c, max_retries=0)
        parts = sdk.chat.completions.create(model="fake-model", messages=[
            {"role": "developer", "content": "Be brief."}, {"role": "user", "content": PARTS}])
        assert parts.choices[0].message.content == "早晨" and parts.usage.prompt_tokens == 2 + len(USER_TEXT.split())
        tools = sdk.chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "沙田天氣？"}],
                                            tools=[WEATHER_TOOL])
        assert tools.choices[0].message.tool_calls[0].function.name == "get_weather"
        chunks = list(sdk.chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "hi"}],
                                                  stream=True, stream_options={"include_usage": True}))
        assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 1
        assert sdk.models.retrieve("fake-model").id == "fake-model"
        vectors = sdk.embeddings.create(input=["早晨", "Good morning"], model=c.app.state.kb.embedder.name)
        assert len(vectors.data) == 2 and len(vectors.data[0].embedding) == 384
        with pytest.raises(openai.BadRequestError) as refused:
            sdk.chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "hi"}], n=2)
        assert refused.value.param == "n"
        with pytest.raises(openai.NotFoundError):
            sdk.models.retrieve("gpt-4o")


@pytest.mark.parametrize(("param", "value"), [
    ("functions", [WEATHER_TOOL["function"]]), ("function_call", "auto"), ("logprobs", True),
    ("top_logprobs", 2), ("logit_bias", {"50256": -100})])
def test_parameters_hkllm_cannot_honour_are_refused_by_name(client, fake_engine, param, value):
    r = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}], param: value})
    assert r.status_code == 400 and r.json()["error"]["param"] == param, r.text
    assert fake_engine.requests == []


def test_reply_language_policy_leaves_json_and_tool_requests_alone(settings):
    settings.kb_embedder = "hash"
    engine = FakeEngine(model="fake-model", default='{"answer": "简体字"}')
    with TestClient(build_app(settings, engine)) as c:  # reply_lang: the default policy, not off
        messages = [{"role": "user", "content": "用繁體字答我"}]
        for extra in ({"response_format": {"type": "json_schema", "json_schema": {"name": "A", "schema": SCHEMA}}},
                      {"tools": [WEATHER_TOOL]}):
            r = c.post("/v1/chat/completions", json={"messages": messages, **extra})
            assert r.json()["choices"][0]["message"]["content"] == '{"answer": "简体字"}'  # not converted
            assert [m.model_dump(exclude_none=True) for m in engine.requests[-1].messages] == messages  # no instruction
        r = c.post("/v1/chat/completions", json={"messages": messages})
        assert r.json()["choices"][0]["message"]["content"] != '{"answer": "简体字"}'  # the policy is on otherwise


def test_every_system_text_reaches_llama_cpp_in_its_one_system_turn() -> None:
    """llama-cpp-python's chatml template keeps only the first system message: the caller's system prompt
    and the reply-language instruction added after it (or the stronger one before the last user turn)
    must both reach the model."""
    from llama_cpp.llama_chat_format import format_chatml

    from hkllm.engine import llama_cpp_python_body

    body = llama_cpp_python_body({"messages": [
        {"role": "system", "content": "You are a helpful clerk."},
        {"role": "system", "content": "請用香港廣東話口語回答。"},
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
        {"role": "system", "content": "重要：你必須用廣東話回答。"}, {"role": "user", "content": "again"}]})
    prompt = format_chatml(body["messages"]).prompt
    for text in ("You are a helpful clerk.", "請用香港廣東話口語回答。", "重要：你必須用廣東話回答。", "hi", "hello", "again"):
        assert text in prompt
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
