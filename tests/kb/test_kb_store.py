"""The SQLite knowledge-base store: transactions, idempotency, versions, caches, integrity."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from hkllm.kb.embed.base import EMBED_DIM
from hkllm.kb.embed.hash import HashEmbedder
from hkllm.kb.ingest.run import ingest_documents
from hkllm.kb.store.open import open_store
from hkllm.kb.store.records import SearchFilters, canonical_lang
from hkllm.kb.store.sqlite import SQLiteKBStore
from hkllm.kb.types import Citation, SourceDocument, Unit


def make_doc(lang: str, version: date | None, sections: dict[str, str], *, cap: str = "999",
             title: str = "Test Ordinance", key: str | None = None) -> SourceDocument:
    units = [
        Unit(key=f"s{num}", citation=Citation(kind="legislation", cap=cap, section=num, lang=lang),
             heading=f"Heading {num}", text=body, lang=lang, ordinal=i, align_key=f"{cap}/s{num}")
        for i, (num, body) in enumerate(sections.items())
    ]
    content = repr((lang, version, sorted(sections.items()))).encode()
    return SourceDocument(kind="legislation", key=key or f"cap:{cap}:{lang}", title=title, lang=lang,
                          version_date=version, source_path=f"/src/cap{cap}_{lang}_{version}.xml",
                          content_sha256=hashlib.sha256(content).hexdigest(), units=units,
                          meta={"cap": cap, "when": version})


@pytest.fixture
def store(tmp_path: Path) -> SQLiteKBStore:
    s = open_store(f"sqlite:///{tmp_path / 'kb.db'}")
    assert isinstance(s, SQLiteKBStore)
    return s


def count(store: SQLiteKBStore, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def fts_ids(store: SQLiteKBStore, term: str) -> set[int]:
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT rowid FROM kb_unit_fts WHERE kb_unit_fts MATCH :m"), {"m": f'"{term}"'})
        return {int(r[0]) for r in rows}


def test_put_skip_replace(store: SQLiteKBStore) -> None:
    doc = make_doc("en", date(2022, 10, 1), {"1": "alpha provision", "2": "beta provision"})
    first = store.put_document(doc)
    assert first.status == "added" and first.units == 2
    assert store.put_document(doc).status == "skipped"
    assert count(store, "kb_unit") == 2

    changed = make_doc("en", date(2022, 10, 1), {"1": "alpha provision", "2": "gamma provision", "3": "delta"})
    second = store.put_document(changed)
    assert second.status == "replaced"
    assert count(store, "kb_document") == 1 and count(store, "kb_unit") == 3
    # the full-text index follows replacements: the old text is gone, the new one is found
    assert fts_ids(store, "beta") == set()
    assert len(fts_ids(store, "gamma")) == 1
    assert store.check_integrity() == []


def test_newer_version_supersedes_older_which_stays_retrievable(store: SQLiteKBStore) -> None:
    old = make_doc("en", date(2020, 1, 1), {"1": "the old wording of the duty"})
    new = make_doc("en", date(2022, 10, 1), {"1": "the new wording of the duty"})
    store.put_document(old)
    result = store.put_document(new)
    assert result.superseded == [store.list_documents()[0].id]
    docs = {d.version_date: d for d in store.list_documents()}
    assert not docs[date(2020, 1, 1)].is_current and docs[date(2022, 10, 1)].is_current

    cite = Citation(kind="legislation", cap="999", section="1")
    current = store.find_units(cite)
    assert [u.text for u in current] == ["the new wording of the duty"]
    then = store.find_units(cite, SearchFilters(as_of=date(2021, 6, 1)))
    assert [u.text for u in then] == ["the old wording of the duty"]
    exact = store.find_units(cite, SearchFilters(version_date=date(2020, 1, 1)))
    assert [u.version_date for u in exact] == [date(2020, 1, 1)]
    every = store.find_units(cite, SearchFilters(include_superseded=True))
    assert len(every) == 2

    # ingesting an older version after a newer one does not take over
    older = make_doc("en", date(2018, 1, 1), {"1": "the oldest wording"})
    store.put_document(older)
    assert [u.text for u in store.find_units(cite)] == ["the new wording of the duty"]
    assert store.bm25(["oldest"], SearchFilters(), 10) == []
    assert len(store.bm25(["oldest"], SearchFilters(include_superseded=True), 10)) == 1
    assert store.check_integrity() == []


def test_one_transaction_per_document(store: SQLiteKBStore) -> None:
    good = make_doc("en", date(2022, 1, 1), {"1": "kept text"})
    store.put_document(good)
    bad = make_doc("zh-Hant", date(2022, 1, 1), {"1": "第一條", "2": "第二條"})
    bad.units[1].key = bad.units[0].key  # duplicate unit key: the insert fails half way
    with pytest.raises(Exception):  # noqa: B017 - any database error
        store.put_document(bad)
    assert count(store, "kb_document") == 1 and count(store, "kb_unit") == 1
    assert store.check_integrity() == []
    assert store.put_document(good).status == "skipped"


def test_vectors_cached_by_passage_hash(store: SQLiteKBStore) -> None:
    embedder = HashEmbedder()
    calls: list[int] = []
    original = embedder.embed_passages

    def counting(texts, progress=None):  # noqa: ANN001, ANN202
        calls.append(len(texts))
        return original(texts, progress)

    embedder.embed_passages = counting  # type: ignore[method-assign]
    v1 = make_doc("en", date(2020, 1, 1), {"1": "unchanged text", "2": "text to amend"})
    v2 = make_doc("en", date(2022, 1, 1), {"1": "unchanged text", "2": "amended text"})
    report = ingest_documents(store, [v1, v2], embedder=embedder)
    assert [o.status for o in report.outcomes] == ["added", "added"]
    assert calls == [2, 1]  # the second version only embeds the provision that changed
    assert [o.embedded for o in report.outcomes] == [2, 1]
    stored = store.cached_vectors([hashlib.sha256(b"x").hexdigest()], embedder.name)
    assert stored == {}


def test_dense_cache_reloads_after_writes_from_another_handle(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kb.db'}"
    reader, writer = open_store(url), open_store(url)
    embedder = HashEmbedder()
    ingest_documents(writer, [make_doc("en", None, {"1": "first unit about cats"})], embedder=embedder)
    q = embedder.embed_query("cats")
    assert len(reader.dense(q, embedder.name, SearchFilters(), 10)) == 1
    ingest_documents(writer, [make_doc("en", None, {"1": "dogs"}, cap="998")], embedder=embedder)
    assert len(reader.dense(q, embedder.name, SearchFilters(), 10)) == 2
    assert reader.dense(q, embedder.name, SearchFilters(cap="998"), 10)[0][0] != \
        reader.dense(q, embedder.name, SearchFilters(cap="999"), 10)[0][0]
    assert reader.dense(q, "another-model", SearchFilters(), 10) == []


def test_dense_scores_are_cosines_in_rank_order(store: SQLiteKBStore) -> None:
    vecs = np.eye(3, EMBED_DIM, dtype=np.float32)
    doc = make_doc("en", None, {"1": "a", "2": "b", "3": "c"})
    store.put_document(doc, vectors=vecs, model="unit-test")
    q = np.zeros(EMBED_DIM, dtype=np.float32)
    q[1], q[2] = 0.8, 0.6
    hits = store.dense(q, "unit-test", SearchFilters(), 2)
    units = {u.id: u.ukey for u in store.get_units([h[0] for h in hits])}
    assert [units[h[0]] for h in hits] == ["s2", "s3"]
    assert [round(h[1], 3) for h in hits] == [0.8, 0.6]


def test_dense_query_language_scans_one_version_of_a_bilingual_provision(store: SQLiteKBStore) -> None:
    embedder = HashEmbedder()
    en = make_doc("en", date(2022, 1, 1), {"1": "data access request", "2": "direct marketing"})
    zh = make_doc("zh-Hant", date(2022, 1, 1), {"1": "查閱資料要求", "2": "直接促銷"})
    alone = make_doc("zh-Hant", None, {"9": "只有中文的條文"}, cap="777")
    ingest_documents(store, [en, zh, alone], embedder=embedder)
    q = embedder.embed_query("request")
    langs = {u.id: (u.lang, u.citation.cap) for u in store.get_units(list(range(1, 10)))}
    everything = store.dense(q, embedder.name, SearchFilters(), 10)
    english = store.dense(q, embedder.name, SearchFilters(), 10, query_lang="en")
    chinese = store.dense(q, embedder.name, SearchFilters(), 10, query_lang="yue")  # canonical: zh-Hant
    assert len(everything) == 5
    assert sorted(langs[i] for i, _ in english) == [("en", "999"), ("en", "999"), ("zh-Hant", "777")]
    assert sorted(langs[i] for i, _ in chinese) == [("zh-Hant", "777"), ("zh-Hant", "999"), ("zh-Hant", "999")]
    # a language filter wins over the query's language: its rows are all in its own view
    assert {langs[i][0] for i, _ in store.dense(q, embedder.name, SearchFilters(lang="zh-Hant"), 10,
                                                query_lang="en")} == {"zh-Hant"}
    assert store.dense(q, embedder.name, SearchFilters(), 10, beside=True) == everything


def test_bm25_refs_match_unit_refs_with_and_without_filters(store: SQLiteKBStore) -> None:
    # Cap. 101's units score higher, so the over-fetched first 30 hold none of Cap. 102's
    store.put_document(make_doc("en", None, {str(i): f"privacy notice privacy notice {i}" for i in range(1, 40)},
                                cap="101"))
    store.put_document(make_doc("en", None, {str(i): f"privacy notice number {i} of many words here"
                                             for i in range(1, 40)}, cap="102"))
    for filters in (SearchFilters(), SearchFilters(cap="102")):  # the second refills via the joined query
        found, refs = store.bm25_refs(["privacy", "notice"], filters, 10)
        assert len(found) == 10 and refs == store.unit_refs([i for i, _ in found])
        assert found == store.bm25(["privacy", "notice"], filters, 10)
        assert {r.id for r in refs.values()} == {i for i, _ in found}
    assert {u.citation.cap for u in store.get_units([i for i, _ in found])} == {"102"}
    assert store.bm25_refs(["absent"], SearchFilters(), 5) == ([], {})


def test_delete_restores_previous_version(store: SQLiteKBStore) -> None:
    store.put_document(make_doc("en", date(2020, 1, 1), {"1": "old"}))
    newer = store.put_document(make_doc("en", date(2022, 1, 1), {"1": "new"}))
    assert store.delete_document(newer.document_id)
    assert [d.is_current for d in store.list_documents()] == [True]
    assert not store.delete_document(newer.document_id)
    assert store.check_integrity() == []


def test_reindex_and_stats(store: SQLiteKBStore) -> None:
    store.put_document(make_doc("zh-Hant", None, {"1": "資料使用者"}))
    assert store.reindex(analyzer=lambda s: "replaced tokens") == 1
    assert len(fts_ids(store, "replaced")) == 1
    stats = store.stats()
    assert stats["documents"] == 1 and stats["units"] == 1 and stats["backend"] == "sqlite"
    assert stats["by_kind_lang"]["units"][0]["lang"] == "zh-Hant"


def test_integrity_check_notices_a_partial_document(store: SQLiteKBStore) -> None:
    result = store.put_document(make_doc("en", None, {"1": "a", "2": "b"}))
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM kb_unit WHERE id = (SELECT max(id) FROM kb_unit)"))
    problems = store.check_integrity()
    assert any(f"document {result.document_id}" in p for p in problems)


@pytest.mark.parametrize(("given", "expected"), [
    ("zh-Hant-HK", "zh-Hant"), ("zh", "zh-Hant"), ("yue", "zh-Hant"), ("zh-Hans", "zh-Hans"),
    ("zh-CN", "zh-Hans"), ("en-GB", "en"), (None, None),
])
def test_canonical_lang(given: str | None, expected: str | None) -> None:
    assert canonical_lang(given) == expected


def test_common_terms_are_pruned_on_a_big_corpus(store: SQLiteKBStore, monkeypatch: pytest.MonkeyPatch) -> None:
    import hkllm.kb.store.records as store_module

    sections = {str(i): "common words here" for i in range(30)}
    sections.update({"100": "common middle", "101": "middle", "102": "middle rare", "103": "middle",
                     "104": "middle", "105": "rare", "106": "common rare words"})
    store.put_document(make_doc("en", None, sections))
    with store.engine.connect() as conn:
        # rarest first; a term never seen costs nothing and stays
        assert store.prune_terms(conn, ["common", "rare", "middle", "absent"]) == ["absent", "rare", "middle", "common"]
        assert store.match_expression(conn, ["rare", "common"]) == '"rare" OR "common"'
        monkeypatch.setattr(store_module, "MAX_POSTINGS", 10)  # rare (3) + middle (5) fit, common (32) not
        assert store.prune_terms(conn, ["common", "rare", "middle", "absent"]) == ["absent", "rare", "middle"]
        monkeypatch.setattr(store_module, "MAX_POSTINGS", 1)
        assert store.prune_terms(conn, ["common", "middle", "rare"]) == ["rare", "middle"]  # 2 always stay
        # ... and when those two are over the budget by themselves, they are ANDed
        assert store.match_expression(conn, ["common", "rare"]) == '"rare" AND "common"'
        assert store.match_expression(conn, ["rare"]) == '"rare"'
    (hit,) = store.bm25(["common", "rare"], SearchFilters(), 50)
    assert store.get_unit(hit[0]).text == "common rare words"
    monkeypatch.setattr(store_module, "MAX_POSTINGS", 10_000)
    assert len(store.bm25(["common", "rare"], SearchFilters(), 50)) == 34  # OR: 32 "common" + 2 more "rare"
    monkeypatch.setattr(store_module, "MAX_POSTINGS", 10)
    only = {u.text for u in store.get_units([i for i, _ in store.bm25(["common", "middle", "rare"], SearchFilters(), 50)])}
    assert only == {"common middle", "middle", "middle rare", "rare", "common rare words"}


def test_bm25_filters_after_the_full_text_query(store: SQLiteKBStore) -> None:
    # many current matches outrank the single match in another collection: the joined fallback finds it
    store.put_document(make_doc("en", None, {str(i): "duty duty duty" for i in range(40)}))
    store.put_document(make_doc("en", None, {"1": "a duty and much other text " * 5}, cap="7"), collection="firm")
    hits = store.bm25(["duty"], SearchFilters(collection="firm"), 5)
    assert len(hits) == 1 and store.get_unit(hits[0][0]).collection == "firm"
