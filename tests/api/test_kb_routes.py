"""The ``/v1/kb`` routes over FastAPI's TestClient: every route's bad input and its JSON error envelope,
upload limits with and without Content-Length, the request-size middleware (the ingest route exempt), API
keys; and, with a fake knowledge base put in through ``get_kb``, the mapping from HTTP to ``KnowledgeBase``
calls alone."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from hkllm.api.app import BodySizeLimit, build_app
from hkllm.api.deps import get_kb
from hkllm.engine import FakeEngine
from hkllm.errors import NotFound
from hkllm.kb.knowledge_base import Upload
from hkllm.kb.store.records import SearchFilters
from hkllm.settings import Settings
from hkllm.store.db import Database
from tests.kb.test_kb_cli import hklm

REQUEST_LIMIT, UPLOAD_LIMIT = 4_000, 20_000
CAP_EN = hklm("486", "en", {
    "18": ("Data access request", "An individual may make a data access request to a data user."),
    "35C": ("Direct marketing", "A data user must inform the data subject before direct marketing."),
}, date="2022-10-01").encode()
CAP_ZH = hklm("486", "zh-Hant-HK", {
    "18": ("查閱資料要求", "任何個人可向資料使用者提出查閱資料要求。"),
    "35C": ("直接促銷", "資料使用者在直接促銷前須通知資料當事人。"),
}, date="2022-10-01").encode()


def settings_for(root: Path, **extra: Any) -> Settings:
    """Everything that matters given explicitly: module fixtures are built before conftest clears HKLLM_*."""
    extra = {"database_url": None, "api_keys": [], **extra}
    return Settings(data_dir=root, kb_embedder="hash", reply_lang="off", max_request_bytes=REQUEST_LIMIT,
                    kb_max_upload_bytes=UPLOAD_LIMIT, **extra)


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated empty database: a copy opens ~10x faster than migrating a new one."""
    path = tmp_path_factory.mktemp("template") / "hkllm.db"
    Database(f"sqlite:///{path}").dispose()
    return path


def fresh_settings(root: Path, empty_db: Path, **extra: Any) -> Settings:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(empty_db, root / "hkllm.db")
    return settings_for(root, **extra)


@pytest.fixture
def api(tmp_path: Path, empty_db: Path) -> Iterator[TestClient]:
    """An empty knowledge base; server errors come back as responses (a 500 must show, not raise)."""
    app = build_app(fresh_settings(tmp_path / "data", empty_db), FakeEngine())
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """Cap. 486 in both languages, for the tests that only read."""
    app = build_app(settings_for(tmp_path_factory.mktemp("loaded")), FakeEngine())
    with TestClient(app, raise_server_exceptions=False) as c:
        for name, body in (("cap486_en.xml", CAP_EN), ("cap486_zh.xml", CAP_ZH)):
            r = c.post("/v1/kb/ingest", params={"filename": name}, content=body)
            assert r.json()["summary"]["added"] == 1
        yield c


def error_of(response: Any, status: int, *, param: str | None = None,
             code: str | None = None) -> dict[str, Any]:
    """The error envelope: exactly {"error": {message, type, param, code}}, with the status and param
    expected."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    error: dict[str, Any] = body["error"]
    assert error["message"] and error["param"] == param
    if code is not None:
        assert error["code"] == code
    return error


def chunks(total: int, size: int = 1_000) -> Iterator[bytes]:
    """A body sent without Content-Length (chunked)."""
    for start in range(0, total, size):
        yield b"x" * min(size, total - start)


def stored_documents(client: TestClient) -> int:
    return int(client.get("/v1/kb/stats").json()["documents"])


def uploads_dir(client: TestClient) -> Path:
    return Path(client.app.state.settings.data_dir) / "kb" / "uploads"  # type: ignore[attr-defined]


# -- search -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("params", "param"), [
    ({}, "query.q"),
    ({"q": ""}, "query.q"),
    ({"q": "x" * 2001}, "query.q"),
    ({"q": "   "}, "q"),
    ({"q": "x", "k": 0}, "query.k"),
    ({"q": "x", "k": 101}, "query.k"),
    ({"q": "x", "k": "five"}, "query.k"),
    ({"q": "x", "mode": "psychic"}, "mode"),
    ({"q": "x", "kind": "poem"}, "kind"),
    ({"q": "x", "lang": "klingon"}, "lang"),
    ({"q": "x", "version_date": "yesterday"}, "version_date"),
    ({"q": "x", "as_of": "2024-13-01"}, "as_of"),
    ({"q": "x", "all_versions": "perhaps"}, "query.all_versions"),
])
def test_search_bad_input(loaded: TestClient, params: dict[str, Any], param: str) -> None:
    error = error_of(loaded.get("/v1/kb/search", params=params), 400, param=param)
    assert error["type"] == "invalid_request_error"


def test_search_answers_a_list_of_hits(loaded: TestClient) -> None:
    body = loaded.get("/v1/kb/search", params={"q": "direct marketing", "k": 1}).json()
    assert body["object"] == "list" and "hits" not in body
    assert {"query", "mode", "expansions", "timings_ms"} <= set(body)
    (hit,) = body["data"]
    assert hit["citation"]["section"] == "35C" and hit["lang"] == "en" and hit["rank"] == 1
    chinese = loaded.get("/v1/kb/search", params={"q": "direct marketing", "k": 1, "lang": "zh-Hant"}).json()
    assert chinese["data"][0]["text"].startswith("(1) 資料使用者在直接促銷前")
    assert len(loaded.get("/v1/kb/search", params={"q": "data", "k": 100}).json()["data"]) <= 100
    assert loaded.get("/v1/kb/search", params={"q": "data", "kind": "judgment"}).json()["data"] == []


# -- units and show -----------------------------------------------------------------------------------------

def test_unit_by_id(loaded: TestClient) -> None:
    hit = loaded.get("/v1/kb/search", params={"q": "data access request", "k": 1}).json()["data"][0]
    unit = loaded.get(f"/v1/kb/units/{hit['unit_id']}").json()
    assert unit["id"] == hit["unit_id"] and unit["text"] == hit["text"]
    assert [a["lang"] for a in unit["aligned"]] == ["zh-Hant"] and len(unit["versions"]) == 1


@pytest.mark.parametrize(("path", "status", "param"), [
    ("/v1/kb/units/424242", 404, "ref"),
    ("/v1/kb/units/0", 404, "ref"),
    ("/v1/kb/units/99999999999999999999", 404, "ref"),  # past SQLite's 64-bit integers: still just not found
    ("/v1/kb/units/abc", 400, "path.unit_id"),
    ("/v1/kb/units/1.5", 400, "path.unit_id"),
])
def test_unit_bad_or_unknown_id(loaded: TestClient, path: str, status: int, param: str) -> None:
    error_of(loaded.get(path), status, param=param, code="not_found" if status == 404 else None)


def test_show_in_both_citation_forms(loaded: TestClient) -> None:
    english = loaded.get("/v1/kb/show", params={"ref": "Cap. 486 s. 18"}).json()
    chinese = loaded.get("/v1/kb/show", params={"ref": "第486章第18條"}).json()
    assert english["citation"]["lang"] == "en" and chinese["citation"]["lang"] == "zh-Hant"
    assert {u["id"] for u in english["units"]} == {u["id"] for u in chinese["units"]}
    assert {u["lang"] for u in english["units"]} == {"en", "zh-Hant"}
    only = loaded.get("/v1/kb/show", params={"ref": "第486章第18條", "lang": "zh-Hant"}).json()["units"]
    assert [u["text"] for u in only] == ["(1) 任何個人可向資料使用者提出查閱資料要求。"]
    chapter = loaded.get("/v1/kb/show", params={"ref": "Cap. 486"}).json()
    assert chapter["units"] == [] and {d["lang"] for d in chapter["documents"]} == {"en", "zh-Hant"}
    assert [c["key"] for c in chapter["documents"][0]["contents"]] == ["s18", "s35C"]


@pytest.mark.parametrize(("params", "status", "param"), [
    ({}, 400, "query.ref"),
    ({"ref": ""}, 400, "query.ref"),
    ({"ref": "x" * 301}, 400, "query.ref"),
    ({"ref": "the data protection principles"}, 400, "ref"),
    ({"ref": "²"}, 400, "ref"),  # a digit, but not a unit id
    ({"ref": "Cap. 486 s. 99"}, 404, "ref"),
    ({"ref": "第999章"}, 404, "ref"),
    ({"ref": "Cap. 486 s. 18", "version_date": "2019-01-01"}, 404, "ref"),  # before the only version
    ({"ref": "Cap. 486 s. 18", "version_date": "01/10/2022"}, 400, "version_date"),
])
def test_show_bad_or_unknown_ref(loaded: TestClient, params: dict[str, str], status: int, param: str) -> None:
    error_of(loaded.get("/v1/kb/show", params=params), status, param=param)


# -- verify and stats ---------------------------------------------------------------------------------------

def test_verify(loaded: TestClient) -> None:
    text = "See Cap. 486 s. 35C, not Cap. 486 s. 35Z or 第486章第99條."
    body = loaded.post("/v1/kb/verify", json={"text": text}).json()
    assert [(c["text"], c["resolved"]) for c in body["citations"]] == [
        ("Cap. 486 s. 35C", True), ("Cap. 486 s. 35Z", False), ("第486章第99條", False)]
    assert (body["resolved"], body["unresolved"], body["ok"]) == (1, 2, False)
    dated = loaded.post("/v1/kb/verify", json={"text": "Cap. 486 s. 18", "version_date": "2022-10-01"}).json()
    assert dated["ok"] is True


@pytest.mark.parametrize(("body", "param", "message"), [
    ({}, "text", "Field required"),
    ({"text": 5}, "text", "string"),
    ({"text": "Cap. 486 s. 18", "version_date": "soon"}, "version_date", "version_date"),
])
def test_verify_bad_input(loaded: TestClient, body: dict[str, Any], param: str, message: str) -> None:
    assert message in error_of(loaded.post("/v1/kb/verify", json=body), 400, param=param)["message"]


def test_verify_malformed_json(loaded: TestClient) -> None:
    r = loaded.post("/v1/kb/verify", content=b'{"text": ', headers={"content-type": "application/json"})
    assert error_of(r, 400)["message"].startswith("request body is not valid JSON")


def test_verify_over_the_request_limit_is_413_with_or_without_content_length(loaded: TestClient) -> None:
    text = json.dumps({"text": "x" * REQUEST_LIMIT}).encode()
    headers = {"content-type": "application/json"}
    error_of(loaded.post("/v1/kb/verify", content=text, headers=headers), 413, code="request_too_large")
    error_of(loaded.post("/v1/kb/verify", content=chunks(REQUEST_LIMIT + 1), headers=headers), 413,
             code="request_too_large")
    # a chunked body under the limit reaches the route whole
    small = json.dumps({"text": "Cap. 486 s. 18 " * 50}).encode()
    r = loaded.post("/v1/kb/verify", content=iter([small[:100], small[100:]]), headers=headers)
    assert r.status_code == 200 and len(r.json()["citations"]) == 50


def test_stats(loaded: TestClient) -> None:
    stats = loaded.get("/v1/kb/stats").json()
    assert (stats["documents"], stats["units"], stats["backend"]) == (2, 4, "sqlite")
    assert {d["lang"] for d in stats["documents_list"]} == {"en", "zh-Hant"}


# -- ingest -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("params", "body", "status", "param"), [
    ({"filename": "cap.xml"}, b"", 400, "file"),
    ({}, CAP_EN, 400, "filename"),
    ({"filename": ""}, CAP_EN, 400, "query.filename"),
    ({"filename": "x" * 301}, CAP_EN, 400, "query.filename"),
    ({"filename": "cap.xml", "collection": ""}, CAP_EN, 400, "collection"),
    ({"filename": "cap.xml", "force": "maybe"}, CAP_EN, 400, "query.force"),
])
def test_ingest_bad_input_stores_nothing(loaded: TestClient, params: dict[str, str], body: bytes, status: int,
                                         param: str) -> None:
    error_of(loaded.post("/v1/kb/ingest", params=params, content=body), status, param=param)
    assert stored_documents(loaded) == 2  # the two chapters the module stored, nothing more


def test_ingest_over_the_upload_limit_with_content_length(api: TestClient) -> None:
    r = api.post("/v1/kb/ingest", params={"filename": "big.xml"}, content=b"x" * (UPLOAD_LIMIT + 1))
    assert str(UPLOAD_LIMIT) in error_of(r, 413, code="request_too_large")["message"]
    assert stored_documents(api) == 0
    assert not uploads_dir(api).exists()


def test_ingest_over_the_upload_limit_chunked(api: TestClient) -> None:
    r = api.post("/v1/kb/ingest", params={"filename": "big.xml"}, content=chunks(UPLOAD_LIMIT + 1))
    assert "HKLLM_KB_MAX_UPLOAD_BYTES" in error_of(r, 413, code="request_too_large")["message"]
    assert stored_documents(api) == 0
    assert not uploads_dir(api).exists()


def test_ingest_is_exempt_from_the_request_limit(api: TestClient) -> None:
    body = hklm("487", "en", {"1": ("Long", "word " * (REQUEST_LIMIT // 4))}).encode()
    assert REQUEST_LIMIT < len(body) <= UPLOAD_LIMIT
    r = api.post("/v1/kb/ingest", params={"filename": "cap487.xml"}, content=body)
    assert r.status_code == 200 and r.json()["summary"]["added"] == 1
    chunked = api.post("/v1/kb/ingest", params={"filename": "cap487.xml"},
                       content=iter([body[:3000], body[3000:]]))  # chunked, reassembled: the same file
    assert chunked.json()["summary"]["skipped"] == 1 and chunked.json()["sha256"] == r.json()["sha256"]
    # other routes still have the small limit
    error_of(api.post("/v1/kb/verify", json={"text": "w" * len(body)}), 413)


def test_a_malformed_upload_is_an_outcome_and_loses_nothing(api: TestClient) -> None:
    api.post("/v1/kb/ingest", params={"filename": "cap486.xml"}, content=CAP_EN)
    r = api.post("/v1/kb/ingest", params={"filename": "cap486.xml"}, content=b"<ordinance><meta><docName>")
    assert r.status_code == 422  # was 200 with "error": 1 in the summary (issue 11)
    body = r.json()
    assert body["error"]["code"] == "ingest_failed" and "cap486.xml" in body["error"]["message"]
    assert body["object"] == "kb.ingest" and body["summary"]["error"] == 1 and body["summary"]["added"] == 0
    (outcome,) = body["outcomes"]
    assert outcome["status"] == "error" and outcome["message"] and outcome["source"] == "cap486.xml"
    assert stored_documents(api) == 1
    assert api.get("/v1/kb/show", params={"ref": "Cap. 486 s. 35C"}).status_code == 200


def test_ingest_into_a_collection_and_force(api: TestClient) -> None:
    params = {"filename": "c.xml", "collection": "firm"}
    first = api.post("/v1/kb/ingest", params=params, content=CAP_EN).json()
    assert first["summary"]["added"] == 1 and first["filename"] == "c.xml"
    forced = api.post("/v1/kb/ingest", params={**params, "force": "true"}, content=CAP_EN).json()
    assert forced["summary"]["replaced"] == 1
    assert api.get("/v1/kb/stats").json()["collections"] == {"firm": 1}
    elsewhere = api.get("/v1/kb/search", params={"q": "direct marketing", "collection": "default"})
    assert elsewhere.json()["data"] == []


# -- API keys -----------------------------------------------------------------------------------------------

KB_CALLS = [("GET", "/v1/kb/search", {"q": "data"}, None), ("GET", "/v1/kb/units/1", {}, None),
            ("GET", "/v1/kb/show", {"ref": "Cap. 486"}, None), ("GET", "/v1/kb/stats", {}, None),
            ("POST", "/v1/kb/verify", {}, b'{"text": "Cap. 486 s. 18"}'),
            ("POST", "/v1/kb/ingest", {"filename": "cap486.xml"}, CAP_EN)]
JSON = {"content-type": "application/json"}


def test_every_kb_route_needs_the_api_key_when_configured(tmp_path: Path, empty_db: Path) -> None:
    app = build_app(fresh_settings(tmp_path, empty_db, api_keys=["sekrit", "other"]), FakeEngine())
    with TestClient(app) as c:
        for method, path, params, body in KB_CALLS:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "sekrit"}):
                r = c.request(method, path, params=params, content=body, headers={**JSON, **headers})
                assert error_of(r, 401, code="invalid_api_key")["type"] == "authentication_error", path
        assert stored_documents_with(c, "Bearer sekrit") == 0  # the refused upload stored nothing
        for method, path, params, body in KB_CALLS:
            r = c.request(method, path, params=params, content=body,
                          headers={**JSON, "Authorization": "bearer other"})
            assert r.status_code in (200, 404), (path, r.text)  # not found is past the key check


def stored_documents_with(client: TestClient, auth: str) -> int:
    return int(client.get("/v1/kb/stats", headers={"Authorization": auth}).json()["documents"])


# -- the request-size middleware on its own ------------------------------------------------------------------

def echo_app(limit: int) -> FastAPI:
    app = FastAPI()

    @app.post("/echo")
    @app.post("/upload")
    async def echo(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    app.add_middleware(BodySizeLimit, limit=limit, exempt=frozenset({"/upload"}))
    return app


def test_body_size_limit_counts_chunked_bodies_and_replays_them_whole() -> None:
    with TestClient(echo_app(100)) as c:
        assert c.post("/echo", content=iter([b"a" * 40, b"b" * 60])).json() == {"received": 100}
        error_of(c.post("/echo", content=iter([b"a" * 40, b"b" * 61])), 413, code="request_too_large")
        assert c.post("/echo", content=b"x" * 100).json() == {"received": 100}
        error_of(c.post("/echo", content=b"x" * 101), 413)
        assert c.post("/echo").json() == {"received": 0}
        # the exempt path is not counted at all
        assert c.post("/upload", content=b"x" * 1000).json() == {"received": 1000}
        assert c.post("/upload", content=chunks(1000, 70)).json() == {"received": 1000}


# -- route mapping alone, over a fake knowledge base ---------------------------------------------------------

class Dumped:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)


class FakeKB:
    """Records each call; answers with canned dicts."""

    max_upload_bytes = 50

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def search(self, q: str, **kw: Any) -> Dumped:
        self.calls.append(("search", (q,), kw))
        return Dumped({"query": q, "mode": kw["mode"], "hits": [{"rank": 1}], "expansions": [],
                       "timings_ms": {}})

    def show(self, ref: str, **kw: Any) -> Any:
        self.calls.append(("show", (ref,), kw))
        if ref == "missing":
            raise NotFound("nothing there", param="ref")
        return type("Shown", (), {"units": [Dumped({"id": 7})], "to_dict": lambda _self: {"shown": ref}})()

    def stats(self, *, check: bool = False) -> dict[str, Any]:
        return {"documents": 3}

    def verify(self, text: str, **kw: Any) -> Dumped:
        self.calls.append(("verify", (text,), kw))
        return Dumped({"ok": True})

    def check_upload_size(self, declared: int | None) -> None:
        self.calls.append(("check_upload_size", (declared,), {}))

    def ingest_uploads(self, uploads: list[Upload], **kw: Any) -> Dumped:
        self.calls.append(("ingest_uploads", tuple((u.filename, u.data) for u in uploads), kw))
        result = Dumped({"object": "kb.ingest"})
        result.ok = True  # type: ignore[attr-defined]
        return result


@pytest.fixture
def faked(tmp_path: Path, empty_db: Path) -> Iterator[tuple[TestClient, FakeKB]]:
    fake = FakeKB()
    app = build_app(fresh_settings(tmp_path, empty_db), FakeEngine())
    app.dependency_overrides[get_kb] = lambda: fake
    with TestClient(app) as c:
        yield c, fake


def test_search_route_maps_parameters_to_filters(faked: tuple[TestClient, FakeKB]) -> None:
    client, fake = faked
    r = client.get("/v1/kb/search", params={"q": "私隱", "k": 7, "mode": "bm25", "kind": "legislation",
                                            "cap": "486", "lang": "zh-HK", "collection": "firm",
                                            "version_date": "2022-10-01", "as_of": "2023-01-01",
                                            "all_versions": "true"})
    assert r.json() == {"object": "list", "data": [{"rank": 1}], "query": "私隱", "mode": "bm25",
                        "expansions": [], "timings_ms": {}}
    ((name, args, kw),) = fake.calls
    assert (name, args, kw["k"], kw["mode"]) == ("search", ("私隱",), 7, "bm25")
    assert kw["filters"] == SearchFilters(kind="legislation", cap="486", lang="zh-HK", collection="firm",
                                          version_date=date(2022, 10, 1), as_of=date(2023, 1, 1),
                                          include_superseded=True)


def test_search_route_defaults(faked: tuple[TestClient, FakeKB]) -> None:
    client, fake = faked
    client.get("/v1/kb/search", params={"q": "data"})
    ((_, _, kw),) = fake.calls
    assert (kw["k"], kw["mode"], kw["filters"]) == (5, "hybrid", SearchFilters())


def test_show_unit_and_verify_routes_pass_their_inputs(faked: tuple[TestClient, FakeKB]) -> None:
    client, fake = faked
    params = {"ref": "Cap. 486 s. 18", "lang": "en", "version_date": "2020-01-01"}
    shown = client.get("/v1/kb/show", params=params)
    assert shown.json() == {"shown": "Cap. 486 s. 18"}
    assert client.get("/v1/kb/units/12").json() == {"id": 7}
    verified = client.post("/v1/kb/verify", json={"text": "Cap. 486", "version_date": "2022-10-01"})
    assert verified.json() == {"ok": True}
    assert fake.calls == [
        ("show", ("Cap. 486 s. 18",), {"lang": "en", "version_date": "2020-01-01"}),
        ("show", ("12",), {}),
        ("verify", ("Cap. 486",), {"version_date": "2022-10-01"}),
    ]
    assert client.get("/v1/kb/stats").json() == {"documents": 3}


def test_errors_from_the_knowledge_base_become_envelopes(faked: tuple[TestClient, FakeKB]) -> None:
    client, _ = faked
    error = error_of(client.get("/v1/kb/show", params={"ref": "missing"}), 404, param="ref", code="not_found")
    assert error["message"] == "nothing there"


def test_ingest_route_streams_the_body_and_checks_the_declared_size(faked: tuple[TestClient, FakeKB]) -> None:
    client, fake = faked
    r = client.post("/v1/kb/ingest", params={"filename": "a b.xml", "collection": "firm", "force": "1"},
                    content=b"0123456789")
    assert r.json() == {"object": "kb.ingest"}
    assert fake.calls == [
        ("check_upload_size", (10,), {}),
        ("ingest_uploads", (("a b.xml", b"0123456789"),),
         {"collection": "firm", "force": True, "replace": False, "include_metadata": False}),
    ]
    fake.calls.clear()
    client.post("/v1/kb/ingest", params={"filename": "c.xml"}, content=iter([b"ab", b"cd", b"ef"]))
    assert fake.calls == [("check_upload_size", (None,), {}),
                          ("ingest_uploads", (("c.xml", b"abcdef"),),
                           {"collection": "default", "force": False, "replace": False, "include_metadata": False})]
    fake.calls.clear()
    # chunked past the knowledge base's own limit: refused while streaming, never handed over
    error_of(client.post("/v1/kb/ingest", params={"filename": "d.xml"}, content=chunks(51, 10)), 413)
    assert [name for name, _, _ in fake.calls] == ["check_upload_size"]
