"""The OpenAI-compatible API over a fake engine: shapes, streaming, errors, the chat log."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from hkllm.errors import EngineUnavailable
from hkllm.store.models import ChatLog

USER = [{"role": "user", "content": "你好"}]


def log_rows(client) -> list[ChatLog]:
    with client.app.state.db.session() as session:
        return list(session.scalars(select(ChatLog).order_by(ChatLog.id)))


def assert_error(response, status: int, *, contains: str, param: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert response.headers["x-request-id"].startswith("req_")  # the key to the detail in the server log
    assert contains in error["message"]
    if param is not None:
        assert error["param"] == param
    return error


def test_models_lists_engine_models(client):
    body = client.get("/v1/models").json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["fake-model"]


def test_non_streamed_completion_is_logged(client, fake_engine):
    fake_engine.add("係呀，我哋可以幫你。")
    r = client.post("/v1/chat/completions", json={"model": "fake-model", "messages": USER, "temperature": 0})
    assert r.status_code == 200
    body = r.json()
    assert body["choices"][0]["message"]["content"] == "係呀，我哋可以幫你。"
    assert body["model"] == "fake-model"
    (row,) = log_rows(client)
    assert (row.status, row.stream, row.response, row.model) == ("ok", False, "係呀，我哋可以幫你。", "fake-model")
    assert row.raw_response == row.response  # policy off: the model's text is the final text
    assert row.messages == USER
    assert row.params["temperature"] == 0 and row.params["max_tokens"] == 512  # default filled
    assert row.prompt_tokens == 1 and row.completion_tokens == 1
    assert row.duration_ms >= 0


def test_model_may_be_omitted(client, fake_engine):
    fake_engine.add("ok")
    assert client.post("/v1/chat/completions", json={"messages": USER}).json()["model"] == "fake-model"


def test_streamed_completion_sends_sse_and_done(client, fake_engine):
    fake_engine.add("Hello from Hong Kong")
    with client.stream("POST", "/v1/chat/completions",
                       json={"model": "fake-model", "messages": USER, "stream": True}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "Hello from Hong Kong"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    (row,) = log_rows(client)
    assert (row.stream, row.response, row.status, row.finish_reason) == (True, "Hello from Hong Kong", "ok", "stop")
    assert row.raw_response == "Hello from Hong Kong"
    assert row.ttft_ms is not None and row.completion_tokens == 4


@pytest.mark.parametrize(
    ("body", "contains", "param"),
    [
        ("{not json", "not valid JSON", None),
        ("[]", "invalid request", None),
        (json.dumps({"model": "fake-model"}), "messages: Field required", "messages"),
        (json.dumps({"messages": []}), "messages: List should have at least 1 item", "messages"),
        (json.dumps({"messages": [{"role": "wizard", "content": "x"}]}), "messages.0.role", "messages.0.role"),
        (json.dumps({"messages": USER, "max_tokens": "many"}), "max_tokens", "max_tokens"),
        (json.dumps({"messages": USER, "temperature": 9}), "temperature", "temperature"),
        (json.dumps({"messages": "hello"}), "messages", "messages"),
    ],
)
def test_bad_requests_get_openai_errors_and_no_log_rows(client, body, contains, param):
    r = client.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    error = assert_error(r, 400, contains=contains, param=param)
    assert error["type"] == "invalid_request_error"
    assert log_rows(client) == []


def test_unknown_model_is_404_naming_available(client):
    r = client.post("/v1/chat/completions", json={"model": "gpt-9", "messages": USER})
    error = assert_error(r, 404, contains="'gpt-9' does not exist; available: fake-model", param="model")
    assert error["code"] == "model_not_found"


def test_request_over_size_limit_is_413(client, settings, fake_engine):
    big = "港" * settings.max_request_bytes
    r = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": big}]})
    assert_error(r, 413, contains="exceeds the limit")

    def chunked():  # no Content-Length: counted as it arrives
        yield b'{"messages": [{"role": "user", "content": "'
        for _ in range(20):
            yield b"x" * 100_000
        yield b'"}]}'

    r = client.post("/v1/chat/completions", content=chunked(), headers={"content-type": "application/json"})
    assert_error(r, 413, contains="exceeds the limit")
    fake_engine.add("still serving")  # and the server keeps serving
    assert client.post("/v1/chat/completions", json={"messages": USER}).status_code == 200


def test_engine_down_is_503_and_logged_as_error(client, fake_engine):
    fake_engine.add(EngineUnavailable("model engine at http://127.0.0.1:1/v1 is not reachable"))
    r = client.post("/v1/chat/completions", json={"messages": USER})
    assert_error(r, 503, contains="not reachable")
    fake_engine.add(EngineUnavailable("down"))
    r = client.post("/v1/chat/completions", json={"messages": USER, "stream": True})
    assert_error(r, 503, contains="down")  # before the first token: a real HTTP error, not a broken stream
    rows = log_rows(client)
    assert [(r.status, r.response is None or r.response == "") for r in rows] == [("error", True), ("error", True)]
    assert all("EngineUnavailable" in r.error for r in rows)


def test_health_reports_engine(client, fake_engine):
    assert client.get("/health").json()["status"] == "ok"
    fake_engine.healthy = False
    r = client.get("/health")
    assert r.status_code == 503 and r.json()["engine"]["ok"] is False


def test_api_keys_are_enforced_when_set(settings, fake_engine):
    from fastapi.testclient import TestClient

    from hkllm.api.app import build_app

    settings.api_keys = ["sekret"]
    with TestClient(build_app(settings, fake_engine)) as c:
        assert_error(c.get("/v1/models"), 401, contains="API key")
        assert_error(c.get("/v1/models", headers={"Authorization": "Bearer wrong"}), 401, contains="API key")
        assert c.get("/v1/models", headers={"Authorization": "Bearer sekret"}).status_code == 200
        assert c.get("/health").status_code == 200  # health stays open for load balancers


# The only URLs the vendored libraries (hkllm/web/static/vendor) may hold: the XML namespace names DOMPurify
# compares elements against, marked's autolink scheme, and the projects' pages in licence comments and error
# text. None of them is fetched; a new one (a CDN, a source map) fails the test.
VENDORED_URLS_ALLOWED = {
    "http://www.w3.org/1998/Math/MathML", "http://www.w3.org/1999/xhtml", "http://www.w3.org/2000/svg",
    "https://github.com/babel/babel/blob/main/packages/babel-helpers/LICENSE",
    "http://", "https://github.com/markedjs/marked", "https://github.com/markedjs/marked.",
}


def test_index_page_is_self_contained(client):
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    paths = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert sorted(paths) == ["/static/api.js", "/static/apps.js", "/static/chat.js", "/static/style.css",
                             "/static/vendor/marked.min.js", "/static/vendor/purify.min.js"]  # all from us
    assets = {path: client.get(path) for path in paths}
    assert all(a.status_code == 200 for a in assets.values())
    own = [r.text, *(a.text for path, a in assets.items() if not path.startswith("/static/vendor/"))]
    assert any("/v1/chat/completions" in t for t in own) and any("/v1/apps" in t for t in own)
    assert all("http://" not in t and "https://" not in t for t in own)  # no CDN: works offline
    for path in ("/static/vendor/marked.min.js", "/static/vendor/purify.min.js"):
        text = assets[path].text
        assert set(re.findall(r"https?://[^\s\"'`),\\]*", text)) <= VENDORED_URLS_ALLOWED, path
        assert "sourceMappingURL" not in text and "import(" not in text and "fetch(" not in text, path


def test_unknown_route_uses_error_envelope(client):
    assert_error(client.get("/v1/nothing"), 404, contains="Not Found")


# -- reply-language policy through the API ---------------------------------------------------------

CANTONESE = [{"role": "user", "content": "我想問下強積金係點計㗎？"}]


@pytest.fixture
def localizing_client(settings, fake_engine):
    """The API with HKLLM_REPLY_LOCALIZE=on (auto would leave it off: the fake engine is not the embedded one)."""
    from fastapi.testclient import TestClient

    from hkllm.api.app import build_app

    settings.reply_lang, settings.reply_localize = "off", "on"
    with TestClient(build_app(settings, fake_engine)) as test_client:
        yield test_client


def test_policy_converts_simplified_reply_to_traditional(client, fake_engine):
    fake_engine.add("强积金是一种退休保障计划，雇主和雇员都要供款。")
    r = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "強積金是甚麼？"}],
                                                  "reply_lang": "zh-Hant"})
    body = r.json()
    assert body["choices"][0]["message"]["content"] == "強積金是一種退休保障計劃，僱主和僱員都要供款。"
    assert body["hkllm"]["converted"] is True and body["hkllm"]["regenerated"] is False
    system = fake_engine.requests[0].messages[0]
    assert system.role == "system" and system.text()  # the instruction was added
    (row,) = log_rows(client)
    assert row.meta["reply_lang"] == "zh-Hant" and row.meta["converted"] is True
    assert row.raw_response == "强积金是一种退休保障计划，雇主和雇员都要供款。"  # the model's own text
    assert row.response == body["choices"][0]["message"]["content"]


def test_policy_regenerates_a_reply_in_the_wrong_language(client, fake_engine):
    fake_engine.add("The MPF is a retirement savings scheme.", "強積金係一個退休保障計劃，你同老細都要供款㗎。")
    r = client.post("/v1/chat/completions", json={"messages": CANTONESE, "reply_lang": "auto"})
    body = r.json()
    assert body["hkllm"]["reply_lang"] == "yue"
    assert body["hkllm"]["regenerated"] is True and body["hkllm"]["language_ok"] is True
    assert body["hkllm"]["localized"] is False
    assert "㗎" in body["choices"][0]["message"]["content"]
    assert len(fake_engine.requests) == 2
    assert body["usage"]["completion_tokens"] == 7 + 1  # both attempts counted (the fake counts words)


def test_policy_localizes_a_cantonese_answer_left_in_standard_chinese(localizing_client, fake_engine):
    fake_engine.add("強積金是退休保障計劃，他們都要供款。")
    r = localizing_client.post("/v1/chat/completions", json={"messages": CANTONESE, "reply_lang": "auto"})
    body = r.json()
    assert body["choices"][0]["message"]["content"] == "強積金係退休保障計劃，佢哋都要供款。"
    assert body["hkllm"]["localized"] is True and body["hkllm"]["language_ok"] is True
    assert body["hkllm"]["regenerated"] is False and len(fake_engine.requests) == 1  # localized, not asked again
    (row,) = log_rows(localizing_client)
    assert row.meta["localized"] is True and row.response == body["choices"][0]["message"]["content"]
    assert row.raw_response == "強積金是退休保障計劃，他們都要供款。"


def test_policy_off_leaves_the_request_alone(client, fake_engine):
    fake_engine.add("简体回复")
    body = client.post("/v1/chat/completions", json={"messages": CANTONESE}).json()
    assert body["choices"][0]["message"]["content"] == "简体回复"
    assert [m.role for m in fake_engine.requests[0].messages] == ["user"]


def test_unknown_reply_lang_is_400(client):
    r = client.post("/v1/chat/completions", json={"messages": USER, "reply_lang": "klingon"})
    assert_error(r, 400, contains="unknown reply language", param="reply_lang")
    r = client.post("/v1/chat/completions", json={"messages": USER, "reply_lang": "x" * 40})
    assert_error(r, 400, contains="reply_lang")


def test_streamed_reply_is_converted_on_the_fly(client, fake_engine):
    fake_engine.add("强积金是退休计划。雇主要供款。")
    with client.stream("POST", "/v1/chat/completions",
                       json={"messages": [{"role": "user", "content": "強積金是甚麼？"}], "stream": True,
                             "reply_lang": "zh-Hant"}) as r:
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content", "") for e in events[:-1]
                   if json.loads(e)["choices"])
    assert text == "強積金是退休計劃。僱主要供款。"
    (row,) = log_rows(client)
    assert row.response == text and row.meta["language_ok"] is True
    assert row.raw_response == "强积金是退休计划。雇主要供款。"
    assert row.meta["localized"] is False


def test_streamed_cantonese_reply_left_in_swc_is_localized_clause_by_clause(localizing_client, fake_engine):
    fake_engine.add("強積金是退休計劃，他們都要供款。")
    with localizing_client.stream("POST", "/v1/chat/completions",
                       json={"messages": CANTONESE, "stream": True, "reply_lang": "auto"}) as r:
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content", "") for e in events[:-1]
                   if json.loads(e)["choices"])
    assert text == "強積金係退休計劃，佢哋都要供款。"
    (row,) = log_rows(localizing_client)
    assert row.response == text and row.meta["localized"] is True and row.meta["language_ok"] is True
    assert row.raw_response == "強積金是退休計劃，他們都要供款。"  # the deltas as the model sent them

