"""The composition root: one database and one knowledge base per runtime, nothing shared between two
runtimes in one process, the API reaching them only through its dependencies, and CLI commands that need
a model getting it the way `hkllm chat` does."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from hkllm.api.app import build_app
from hkllm.engine import Engine, FakeEngine
from hkllm.kb.embed.hash import HashEmbedder
from hkllm.kb.knowledge_base import KnowledgeBase
from hkllm.runtime import build_runtime
from hkllm.settings import Settings
from tests.kb.test_kb_cli import hklm


def _settings(root: Path, **extra: object) -> Settings:
    return Settings(data_dir=root, kb_embedder="hash", reply_lang="off", **extra)


def _cap(folder: Path, cap: str, heading: str, body: str) -> bytes:
    return hklm(cap, "en", {"1": (heading, body)}).encode("utf-8")


def test_two_apps_in_one_process_share_no_knowledge_base_state(tmp_path: Path) -> None:
    first, second = _settings(tmp_path / "a"), _settings(tmp_path / "b", kb_max_upload_bytes=2000)
    with TestClient(build_app(first, FakeEngine())) as a, TestClient(build_app(second, FakeEngine())) as b:
        assert a.app.state.kb is not b.app.state.kb
        assert a.app.state.kb.store.engine is not b.app.state.kb.store.engine
        xml = _cap(tmp_path, "901", "Data access request", "An individual may make a data access request.")
        r = a.post("/v1/kb/ingest", params={"filename": "cap_901_en.xml"}, content=xml)
        assert r.status_code == 200, r.text
        hits = a.get("/v1/kb/search", params={"q": "data access request"}).json()["data"]
        assert hits and hits[0]["citation"]["cap"] == "901"
        # the other app's knowledge base, dense index and settings are its own
        assert b.get("/v1/kb/search", params={"q": "data access request"}).json()["data"] == []
        assert b.get("/v1/kb/stats").json()["documents"] == 0
        assert a.get("/v1/kb/stats").json()["documents"] == 1
        big = _cap(tmp_path, "902", "Long", "word " * 1000)
        assert b.post("/v1/kb/ingest", params={"filename": "cap_902_en.xml"}, content=big).status_code == 413
        assert a.post("/v1/kb/ingest", params={"filename": "cap_902_en.xml"}, content=big).status_code == 200
        assert (tmp_path / "a" / "kb" / "uploads").is_dir() and not (tmp_path / "b" / "kb" / "uploads").exists()


def test_one_database_engine_per_runtime(tmp_path: Path) -> None:
    runtime = build_runtime(_settings(tmp_path))
    try:
        assert runtime.kb.store.engine is runtime.db.engine  # chat log, evals and KB share one engine
        assert isinstance(runtime.kb.embedder, HashEmbedder)
        assert runtime.kb.uploads_dir == tmp_path / "kb" / "uploads"
    finally:
        runtime.close()


def test_build_app_takes_a_prepared_runtime_and_closes_it_at_shutdown(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    runtime = build_runtime(settings)
    closed: list[str] = []
    original = runtime.close

    def close() -> None:
        closed.append("runtime")
        original()

    runtime.close = close  # type: ignore[method-assign]
    app = build_app(settings, FakeEngine(), runtime=runtime, on_shutdown=lambda: closed.append("model"))
    with TestClient(app) as client:
        assert client.app.state.kb is runtime.kb and client.app.state.db is runtime.db  # type: ignore[attr-defined]
        assert client.get("/v1/kb/stats").json()["backend"] == "sqlite"
    assert closed == ["runtime", "model"]


def test_routes_reach_the_knowledge_base_only_through_the_dependency(tmp_path: Path) -> None:
    """A fake knowledge base put in place through the dependency answers the KB routes (what apps and
    tests will do)."""
    from hkllm.api.deps import get_kb

    calls: list[str] = []

    class FakeKB:
        def stats(self, *, check: bool = False) -> dict[str, object]:
            calls.append("stats")
            return {"backend": "fake", "documents": 7}

    app = build_app(_settings(tmp_path), FakeEngine())
    app.dependency_overrides[get_kb] = FakeKB
    with TestClient(app) as client:
        assert client.get("/v1/kb/stats").json() == {"backend": "fake", "documents": 7}
    assert calls == ["stats"]


def test_kb_open_has_no_hidden_state_between_data_dirs(tmp_path: Path) -> None:
    one, two = build_runtime(_settings(tmp_path / "1")), build_runtime(_settings(tmp_path / "2"))
    try:
        assert one.kb.embedder is not two.kb.embedder
        assert one.kb.searcher is not two.kb.searcher
        assert isinstance(one.kb, KnowledgeBase)
    finally:
        one.close()
        two.close()


def test_kb_cli_uses_the_configured_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hkllm.cli import app

    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "cap_903_en.xml").write_bytes(_cap(tmp_path, "903", "Fees", "A fee is payable for a licence."))
    for name in ("x", "y"):
        monkeypatch.setenv("HKLLM_DATA_DIR", str(tmp_path / name))
        monkeypatch.setenv("HKLLM_KB_EMBEDDER", "hash")
        if name == "x":
            result = CliRunner().invoke(app, ["kb", "ingest", str(folder), "--no-progress"])
            assert result.exit_code == 0, result.output
        result = CliRunner().invoke(app, ["kb", "stats", "--json"])
        assert result.exit_code == 0, result.output
        assert ('"documents": 1' in result.output) is (name == "x")


def test_eval_run_without_engine_gets_the_model_like_chat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No --engine: `hkllm eval run` asks the composition root for the engine (which starts the embedded
    model when no `hkllm serve` runs) instead of failing with 'not reachable'."""
    import hkllm.runtime as runtime_module
    from hkllm.cli import app
    from hkllm.evals.runner import OracleEngine

    used: list[Engine] = []

    @asynccontextmanager
    async def fake_engine_for_command(settings: Settings) -> AsyncIterator[Engine]:
        engine = OracleEngine("correct")
        used.append(engine)
        yield engine

    monkeypatch.setattr(runtime_module, "engine_for_command", fake_engine_for_command)
    monkeypatch.setenv("HKLLM_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(app, ["eval", "run", "--tasks", "lang-fidelity", "--limit", "2", "--json"])
    assert len(used) == 1, result.output
    assert result.exit_code == 0, result.output
    line = json.loads(next(x for x in result.output.splitlines() if x.startswith('{"task"')))
    assert line["task"] == "lang-fidelity" and line["n"] == 2 and line["score"] == 1.0  # the oracle answered


@pytest.mark.parametrize(("engine_url", "setting", "localize"), [
    (None, "auto", True),  # the embedded 1.5B model: its SWC replies are rewritten
    ("http://gpu-box:8001/v1", "auto", False),  # any other engine: asked again instead
    ("http://gpu-box:8001/v1", "on", True),
    (None, "off", False),
])
def test_reply_localize_setting_reaches_the_chat_service(tmp_path: Path, engine_url: str | None, setting: str,
                                                         localize: bool) -> None:
    from hkllm.embedded import make_engine
    from hkllm.runtime import build_chat_service

    settings = _settings(tmp_path, engine_url=engine_url, reply_localize=setting)
    runtime = build_runtime(settings)
    try:
        service = build_chat_service(settings, make_engine(settings), runtime.db)
        assert service.strategy.localize is localize
    finally:
        runtime.close()


def test_an_unknown_reply_localize_value_is_refused(tmp_path: Path) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="reply_localize"):
        _settings(tmp_path, reply_localize="sometimes")


def test_an_app_started_twice_still_searches(tmp_path: Path) -> None:
    """Shutdown closes the runtime (worker threads, database pool); a second start (tests, an ASGI host
    that cycles the lifespan) must still answer."""
    app = build_app(_settings(tmp_path), FakeEngine())
    for _ in range(2):
        with TestClient(app) as client:
            r = client.get("/v1/kb/search", params={"q": "data access request"})
            assert r.status_code == 200 and r.json()["data"] == []
