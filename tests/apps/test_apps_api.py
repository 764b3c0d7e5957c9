"""``/v1/apps``: list, describe and run apps through the real app, over the fake engine."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from hkllm.api.app import build_app
from hkllm.apps.base import App, AppContext, AppRegistry, UnknownApp
from hkllm.apps.echo import EchoApp
from hkllm.engine import FakeEngine, chat_text
from hkllm.registry import Registry


class Question(BaseModel):
    question: str = Field(min_length=1)
    max_words: int = Field(20, ge=1)


class Answer(BaseModel):
    answer: str
    kb_open: bool


class AskModel(App[Question, Answer]):
    """Uses the engine and looks at the knowledge base: checks what the API puts in the context."""

    id = "ask-model"
    title = "Ask the model"
    Input = Question
    Output = Answer
    needs_kb = True

    async def run(self, input: Question, ctx: AppContext) -> Answer:
        reply = await chat_text(ctx.engine, [{"role": "user", "content": input.question}], max_tokens=input.max_words)
        return Answer(answer=reply, kb_open=ctx.kb is not None)


@pytest.fixture
def registry(client: TestClient) -> AppRegistry:
    """The client's app with its own registry: echo (a built-in) and the test app."""
    reg: AppRegistry = Registry("app", base=App, group="hkllm.test_apps_api", builtins=("hkllm.apps.echo:EchoApp",),
                                not_found=UnknownApp, param="app_id")
    reg.register(AskModel)
    client.app.state.app_registry = reg  # type: ignore[attr-defined]
    return reg


def _error(response: Any) -> dict[str, Any]:
    return response.json()["error"]


def test_list_shows_echo_with_its_schemas(client: TestClient) -> None:
    r = client.get("/v1/apps")
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "list"
    echo = next(a for a in body["data"] if a["id"] == "echo")
    assert echo["title"] == "Echo" and echo["description"] == EchoApp.description
    assert echo["input_schema"]["properties"]["text"]["type"] == "string"
    assert echo["input_schema"]["required"] == ["text"]
    assert echo["output_schema"]["required"] == ["text"]


def test_list_follows_the_registry(client: TestClient, registry: AppRegistry) -> None:
    assert [a["id"] for a in client.get("/v1/apps").json()["data"]] == ["echo", "ask-model"]
    one = client.get("/v1/apps/ask-model").json()
    assert one["input_schema"]["properties"]["max_words"]["default"] == 20


def test_run_echo_returns_its_output(client: TestClient) -> None:
    r = client.post("/v1/apps/echo", json={"text": "今日天氣點呀？"})
    assert r.status_code == 200
    assert r.json() == {"text": "今日天氣點呀？"}


def test_run_gets_the_engine_and_the_knowledge_base_from_the_server(client: TestClient, registry: AppRegistry,
                                                                    fake_engine: FakeEngine) -> None:
    fake_engine.add("強積金係強制性公積金。")
    r = client.post("/v1/apps/ask-model", json={"question": "乜嘢係強積金？", "max_words": 12})
    assert r.status_code == 200
    assert r.json() == {"answer": "強積金係強制性公積金。", "kb_open": True}
    sent = fake_engine.requests[-1]
    assert sent.messages[-1].text() == "乜嘢係強積金？" and sent.max_tokens == 12


@pytest.mark.parametrize(("body", "param", "says"), [
    ({}, "text", "text: Field required"),
    ({"text": 12}, "text", "text: Input should be a valid string"),
    ({"text": "x", "lang": "yue"}, "lang", "lang: Extra inputs are not permitted"),
])
def test_bad_input_is_400_naming_the_field(client: TestClient, body: dict[str, Any], param: str, says: str) -> None:
    r = client.post("/v1/apps/echo", json=body)
    assert r.status_code == 400
    err = _error(r)
    assert err["type"] == "invalid_request_error" and err["code"] == "invalid_app_input"
    assert err["param"] == param and says in err["message"] and "'echo'" in err["message"]


def test_a_body_that_is_not_a_json_object_is_400(client: TestClient) -> None:
    r = client.post("/v1/apps/echo", json=["text"])
    assert r.status_code == 400 and _error(r)["type"] == "invalid_request_error"
    r = client.post("/v1/apps/echo", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in _error(r)["message"]


def test_a_nested_field_is_named_with_its_path(client: TestClient, registry: AppRegistry) -> None:
    r = client.post("/v1/apps/ask-model", json={"question": "", "max_words": 0})
    err = _error(r)
    assert r.status_code == 400 and err["param"] == "question"
    assert "max_words: Input should be greater than or equal to 1" in err["message"]


def test_unknown_app_is_404_listing_the_known_ones(client: TestClient, registry: AppRegistry) -> None:
    for r in (client.post("/v1/apps/translate", json={"text": "x"}), client.get("/v1/apps/translate")):
        assert r.status_code == 404
        err = _error(r)
        assert err["message"] == "unknown app 'translate'; known apps: echo, ask-model"
        assert (err["code"], err["param"]) == ("unknown_app", "app_id")


def test_apps_need_the_api_key_when_one_is_set(settings: Any, fake_engine: FakeEngine) -> None:
    settings.api_keys = ["sekret"]
    with TestClient(build_app(settings, fake_engine)) as c:
        assert c.get("/v1/apps").status_code == 401
        assert c.post("/v1/apps/echo", json={"text": "x"}).status_code == 401
        ok = c.post("/v1/apps/echo", json={"text": "x"}, headers={"Authorization": "Bearer sekret"})
        assert ok.status_code == 200 and ok.json() == {"text": "x"}
