"""The knowledge-base store (through SQLite) beyond the basics in test_kb_store: put outcomes per collection,
version filters, deletes re-marking the current version, integrity problems, reindex, document listing,
the vector cache, the generation counter; and the plain records (``store.records``)."""

from __future__ import annotations

import hashlib
import shutil
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from hkllm.errors import InvalidRequest
from hkllm.kb.embed.base import EMBED_DIM
from hkllm.kb.store.open import open_store
from hkllm.kb.store.records import (
    MAX_POSTINGS,
    SearchFilters,
    StoredUnit,
    as_date,
    canonical_lang,
    citation_from_json,
    in_chunks,
    jsonable,
    rarest_terms,
    version_tag,
)
from hkllm.kb.store.sqlite import SQLiteKBStore
from hkllm.kb.types import Citation, SourceDocument, Unit


def chapter(version: date | None, sections: dict[str, str], *, cap: str = "486", lang: str = "en",
            meta: dict[str, object] | None = None) -> SourceDocument:
    units = [Unit(key=f"s{n}", citation=Citation(kind="legislation", cap=cap, section=n, lang=lang),
                  heading=f"Heading {n}", text=body, lang=lang, ordinal=i, align_key=f"{cap}/s{n}")
             for i, (n, body) in enumerate(sections.items())]
    sha = hashlib.sha256(repr((cap, lang, version, sorted(sections.items()))).encode()).hexdigest()
    return SourceDocument(kind="legislation", key=f"cap:{cap}:{canonical_lang(lang)}", title=f"Cap. {cap}",
                          lang=lang, version_date=version, source_path=f"/src/{cap}_{lang}.xml",
                          content_sha256=sha, units=units, meta=meta if meta is not None else {"cap": cap})


D2019, D2020, D2022 = date(2019, 1, 1), date(2020, 7, 1), date(2022, 10, 1)
S18 = Citation(kind="legislation", cap="486", section="18")


@pytest.fixture
def store(tmp_path: Path, empty_db: Path) -> SQLiteKBStore:
    shutil.copy(empty_db, tmp_path / "kb.db")
    s = open_store(f"sqlite:///{tmp_path / 'kb.db'}")
    assert isinstance(s, SQLiteKBStore)
    return s


def texts(units: list[StoredUnit]) -> list[str]:
    return [u.text for u in units]


def sql(store: SQLiteKBStore, statement: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(statement))


# -- put_document --------------------------------------------------------------------------------------------

def test_document_status_tracks_new_same_and_changed(store: SQLiteKBStore) -> None:
    doc = chapter(D2022, {"18": "v1"})
    assert store.document_status(doc) == ("new", None)
    stored = store.put_document(doc)
    assert store.document_status(doc) == ("same", stored.document_id)
    assert store.document_status(chapter(D2022, {"18": "v2"})) == ("changed", stored.document_id)
    assert store.document_status(chapter(D2020, {"18": "v1"})) == ("new", None)  # another version
    assert store.document_status(doc, "firm") == ("new", None)  # another collection


def test_collections_keep_their_own_copies(store: SQLiteKBStore) -> None:
    doc = chapter(D2022, {"18": "access request"})
    first = store.put_document(doc)
    other = store.put_document(doc, collection="firm")
    assert (first.status, other.status) == ("added", "added")
    assert first.document_id != other.document_id
    # each collection's copy is current: one collection's version does not supersede another's
    assert [d.is_current for d in store.list_documents()] == [True, True]
    assert other.superseded == []
    assert texts(store.find_units(S18, SearchFilters(collection="firm"))) == ["access request"]
    assert store.check_integrity() == []


def test_replace_same_rewrites_identical_content(store: SQLiteKBStore) -> None:
    doc = chapter(D2022, {"18": "same text"})
    first = store.put_document(doc)
    again = store.put_document(doc, replace_same=True)
    assert again.status == "replaced" and again.units == 1
    assert [d.id for d in store.list_documents()] == [again.document_id]
    assert store.generation() == 2 and first.status == "added"
    assert store.check_integrity() == []


def test_a_document_without_key_or_with_wrong_vectors_is_refused(store: SQLiteKBStore) -> None:
    keyless = chapter(D2022, {"18": "x"})
    keyless.key = ""
    with pytest.raises(InvalidRequest, match="no key"):
        store.put_document(keyless)
    doc = chapter(D2022, {"18": "x", "19": "y"})
    with pytest.raises(InvalidRequest, match="2x384"):
        store.put_document(doc, vectors=np.zeros((1, EMBED_DIM), dtype=np.float32), model="m")
    with pytest.raises(InvalidRequest):
        store.put_document(doc, vectors=np.zeros((2, 10), dtype=np.float32), model="m")
    assert store.list_documents() == [] and store.generation() == 0


def test_stored_rows_are_canonical(store: SQLiteKBStore) -> None:
    doc = chapter(D2022, {"35c": "direct marketing"}, cap="32a", lang="zh-Hant-HK",
                  meta={"cap": "32a", "dates": (D2019, D2020), "when": datetime(2022, 1, 2, 3, 4), "n": 3})
    result = store.put_document(doc)
    (stored,) = store.list_documents()
    assert stored.lang == "zh-Hant" and stored.version_date == D2022 and stored.unit_count == 1
    # meta is kept as JSON: dates as ISO text, tuples as lists
    assert stored.meta == {"cap": "32a", "dates": ["2019-01-01", "2020-07-01"], "when": "2022-01-02T03:04:00",
                           "n": 3}
    (unit,) = store.document_units(result.document_id)
    assert unit.lang == "zh-Hant" and unit.citation.cap == "32a" and unit.heading == "Heading 35c"
    # chapter numbers match whatever the case; so do section numbers
    cite = Citation(kind="legislation", cap="32A", section="35C")
    assert texts(store.find_units(cite)) == ["direct marketing"]


# -- versions ------------------------------------------------------------------------------------------------

def put_versions(store: SQLiteKBStore) -> dict[date, int]:
    ids = {}
    for when, wording in ((D2019, "first wording"), (D2020, "second wording"), (D2022, "third wording")):
        doc = chapter(when, {"18": wording, "19": f"{wording} of s. 19"})
        ids[when] = store.put_document(doc).document_id
    return ids


@pytest.fixture
def versions(store: SQLiteKBStore) -> dict[date, int]:
    return put_versions(store)


@pytest.fixture(scope="module")
def versioned(tmp_path_factory: pytest.TempPathFactory) -> tuple[SQLiteKBStore, dict[date, int]]:
    """Three versions of one chapter, shared by the tests that only read."""
    s = open_store(f"sqlite:///{tmp_path_factory.mktemp('versions') / 'kb.db'}")
    assert isinstance(s, SQLiteKBStore)
    return s, put_versions(s)


@pytest.mark.parametrize(("filters", "expected"), [
    (SearchFilters(), ["third wording"]),
    (SearchFilters(as_of=date(2018, 12, 31)), []),  # before the first version
    (SearchFilters(as_of=D2019), ["first wording"]),  # in force on the day it starts
    (SearchFilters(as_of=date(2020, 6, 30)), ["first wording"]),
    (SearchFilters(as_of=D2020), ["second wording"]),
    (SearchFilters(as_of=date(2030, 1, 1)), ["third wording"]),
    (SearchFilters(version_date=D2020), ["second wording"]),
    (SearchFilters(version_date=date(2021, 1, 1)), []),  # an exact version that does not exist
    (SearchFilters(include_superseded=True), ["third wording", "second wording", "first wording"]),
])
def test_version_filters(versioned: tuple[SQLiteKBStore, dict[date, int]], filters: SearchFilters,
                         expected: list[str]) -> None:
    store = versioned[0]
    assert texts(store.find_units(S18, filters)) == expected


def test_version_filters_apply_to_documents_and_bm25(
        versioned: tuple[SQLiteKBStore, dict[date, int]]) -> None:
    store, versions = versioned
    assert store.allowed_document_ids(SearchFilters()) is None  # only is_current matters
    assert store.allowed_document_ids(SearchFilters(as_of=date(2021, 1, 1))) == {versions[D2020]}
    assert store.allowed_document_ids(SearchFilters(version_date=D2019)) == {versions[D2019]}
    whole = Citation(kind="legislation", cap="486")
    assert [d.id for d in store.source_documents(whole)] == [versions[D2022]]
    assert [d.id for d in store.source_documents(whole, SearchFilters(as_of=D2020))] == [versions[D2020]]
    found = store.bm25(["wording"], SearchFilters(as_of=date(2019, 5, 1)), 10)
    assert {store.get_unit(i).document_id for i, _ in found} == {versions[D2019]}  # type: ignore[union-attr]


def test_an_undated_document_counts_as_in_force_when_current(store: SQLiteKBStore) -> None:
    store.put_document(chapter(None, {"18": "undated text"}))
    assert texts(store.find_units(S18, SearchFilters(as_of=date(2000, 1, 1)))) == ["undated text"]
    assert version_tag(None) == "" and store.list_documents()[0].version_date is None


def test_superseded_ids_are_reported_once(store: SQLiteKBStore, versions: dict[date, int]) -> None:
    newest = store.put_document(chapter(date(2024, 1, 1), {"18": "fourth"}))
    assert newest.superseded == [versions[D2022]]  # the others were already superseded
    older = store.put_document(chapter(date(2010, 1, 1), {"18": "zeroth"}))
    assert older.superseded == []  # an older version ingested late takes nothing over
    current = [d for d in store.list_documents() if d.is_current]
    assert [d.id for d in current] == [newest.document_id]


# -- delete --------------------------------------------------------------------------------------------------

def test_deleting_the_current_version_makes_the_previous_one_current(store: SQLiteKBStore,
                                                                     versions: dict[date, int]) -> None:
    assert store.delete_document(versions[D2022])
    assert texts(store.find_units(S18)) == ["second wording"]
    assert store.get_document(versions[D2020]).is_current  # type: ignore[union-attr]
    assert all(u.is_current for u in store.document_units(versions[D2020]))
    assert not any(u.is_current for u in store.document_units(versions[D2019]))
    assert store.check_integrity() == []


def test_deleting_a_superseded_version_leaves_the_current_one(store: SQLiteKBStore,
                                                              versions: dict[date, int]) -> None:
    assert store.delete_document(versions[D2019])
    assert texts(store.find_units(S18)) == ["third wording"]
    assert texts(store.find_units(S18, SearchFilters(as_of=D2019))) == []
    assert store.get_document(versions[D2019]) is None and store.document_units(versions[D2019]) == []


def test_deleting_every_version_leaves_nothing(store: SQLiteKBStore, versions: dict[date, int]) -> None:
    for doc_id in versions.values():
        assert store.delete_document(doc_id)
    assert store.list_documents() == [] and store.stats()["units"] == 0
    assert store.find_units(S18, SearchFilters(include_superseded=True)) == []
    assert store.check_integrity() == []


# -- integrity, reindex, generation --------------------------------------------------------------------------

def test_integrity_check_reports_each_kind_of_damage(store: SQLiteKBStore) -> None:
    first = store.put_document(chapter(D2020, {"18": "a", "19": "b"}))
    second = store.put_document(chapter(D2022, {"18": "c"}))
    assert store.check_integrity() == []
    sql(store, f"UPDATE kb_document SET unit_count = 5 WHERE id = {first.document_id}")
    assert store.check_integrity() == [f"document {first.document_id}: 2 units stored, 5 expected"]
    sql(store, f"UPDATE kb_document SET unit_count = 2 WHERE id = {first.document_id}")
    sql(store, f"UPDATE kb_document SET is_current = 1 WHERE id = {first.document_id}")
    assert store.check_integrity() == ["cap:486:en has 2 current versions"]
    sql(store, f"UPDATE kb_document SET is_current = 0 WHERE id = {first.document_id}")
    with store.engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.exec_driver_sql(f"DELETE FROM kb_document WHERE id = {second.document_id}")
    problems = store.check_integrity()
    assert "1 units without a document" in problems


def test_reindex_rewrites_search_text_for_every_unit(store: SQLiteKBStore) -> None:
    store.put_document(chapter(D2022, {"18": "Data Access Requests", "19": "Erasure"}))
    assert store.bm25(["request"], SearchFilters(), 5)  # S-stemmed at ingest
    before = store.generation()
    assert store.reindex(analyzer=lambda s: "zzz " + s.split("\n")[0].lower().replace(" ", "_")) == 2
    assert store.generation() == before + 1
    assert store.bm25(["request"], SearchFilters(), 5) == []
    assert len(store.bm25(["zzz"], SearchFilters(), 5)) == 2
    assert len(store.bm25(["heading_18"], SearchFilters(), 5)) == 1
    # the new analyzer also indexes what is stored next
    store.put_document(chapter(D2022, {"1": "x"}, cap="1"))
    assert len(store.bm25(["zzz"], SearchFilters(), 5)) == 3
    assert store.check_integrity() == []


def test_generation_moves_on_every_write_and_only_then(store: SQLiteKBStore) -> None:
    assert store.generation() == 0
    doc = chapter(D2022, {"18": "x"})
    added = store.put_document(doc)
    assert store.generation() == 1
    store.put_document(doc)  # skipped: nothing written
    assert store.generation() == 1
    store.put_document(chapter(D2022, {"18": "y"}))
    assert store.generation() == 2
    assert not store.delete_document(added.document_id + 100)
    assert store.generation() == 2
    assert store.delete_document(store.list_documents()[0].id)
    assert store.generation() == 3
    assert store.stats()["generation"] == 3


def test_stats_count_by_kind_language_and_currency(store: SQLiteKBStore) -> None:
    store.put_document(chapter(D2020, {"18": "a", "19": "b"}))
    store.put_document(chapter(D2022, {"18": "c"}))
    store.put_document(chapter(D2022, {"18": "c"}, lang="zh-Hant"), collection="firm")
    stats = store.stats()
    counts = (stats["documents"], stats["documents_current"], stats["units"], stats["units_current"])
    assert counts == (3, 2, 4, 2)
    assert stats["collections"] == {"default": 2, "firm": 1}
    assert stats["embedded_units"] == {}
    docs = {(r["lang"], r["current"]): r["count"] for r in stats["by_kind_lang"]["documents"]}
    assert docs == {("en", False): 1, ("en", True): 1, ("zh-Hant", True): 1}
    units = {(r["lang"], r["current"]): r["count"] for r in stats["by_kind_lang"]["units"]}
    assert units == {("en", False): 2, ("en", True): 1, ("zh-Hant", True): 1}


# -- listing and reading -------------------------------------------------------------------------------------

def test_list_documents_filters_and_order(store: SQLiteKBStore) -> None:
    b_new = store.put_document(chapter(D2022, {"1": "x"}, cap="200")).document_id
    b_old = store.put_document(chapter(D2020, {"1": "y"}, cap="200")).document_id
    a = store.put_document(chapter(D2022, {"1": "z"}, cap="100")).document_id
    firm = store.put_document(chapter(D2022, {"1": "w"}, cap="100"), collection="firm").document_id
    # ordered by collection, key, version
    assert [d.id for d in store.list_documents()] == [a, b_old, b_new, firm]
    assert [d.id for d in store.list_documents(key="cap:200:en")] == [b_old, b_new]
    assert [d.id for d in store.list_documents(collection="firm")] == [firm]
    assert [d.id for d in store.list_documents(ids=[firm, a])] == [a, firm]
    assert store.list_documents(ids=[]) == [] and store.list_documents(key="cap:999:en") == []
    assert store.get_document(10_000) is None


def test_get_units_keeps_the_order_asked_and_drops_missing(store: SQLiteKBStore) -> None:
    doc_id = store.put_document(chapter(D2022, {"1": "one", "2": "two", "3": "three"})).document_id
    ids = [u.id for u in store.document_units(doc_id)]
    assert texts(store.get_units([ids[2], 10_000, ids[0]])) == ["three", "one"]
    assert store.get_units([]) == [] and store.get_unit(10_000) is None
    assert [u.text for u in store.document_units(doc_id, with_text=False)] == ["", "", ""]


def test_cached_vectors_by_hash_and_model(store: SQLiteKBStore) -> None:
    vectors = np.eye(2, EMBED_DIM, dtype=np.float32)
    store.put_document(chapter(D2022, {"1": "one", "2": "two"}), vectors=vectors, model="m1",
                       passage_hashes=["h1", "h2"])
    store.put_document(chapter(D2022, {"1": "one"}, cap="7"), passage_hashes=["h3"])  # no vectors
    found = store.cached_vectors(["h2", "h1", "h1", "h3", "nope"], "m1")
    assert sorted(found) == ["h1", "h2"]
    assert np.array_equal(found["h1"], vectors[0]) and found["h2"].dtype == np.float32
    assert store.cached_vectors(["h1"], "another-model") == {}
    assert store.cached_vectors([], "m1") == {}
    assert store.stats()["embedded_units"] == {"m1": 2}


# -- records -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("given", "expected"), [
    ("en", "en"), ("EN", "en"), ("en-HK", "en"), ("en_GB", "en"), (" en ", "en"),
    ("zh-Hant", "zh-Hant"), ("zh-HK", "zh-Hant"), ("zh_TW", "zh-Hant"), ("zh-Hant-HK", "zh-Hant"),
    ("yue", "zh-Hant"), ("hant", "zh-Hant"), ("zh", "zh-Hant"),
    ("zh-Hans", "zh-Hans"), ("zh-Hans-CN", "zh-Hans"), ("zh-CN", "zh-Hans"), ("zh-SG", "zh-Hans"),
    ("hans", "zh-Hans"), ("fr", "fr"), ("", None), (None, None),
])
def test_canonical_lang_table(given: str | None, expected: str | None) -> None:
    assert canonical_lang(given) == expected


def _postings(table: dict[str, float]):  # noqa: ANN202
    return lambda term: table.get(term, 0.0)


@pytest.mark.parametrize(("terms", "df", "kept", "conjunctive"), [
    # a small corpus: everything fits, rarest first
    (["data", "access", "request"], {"data": 50, "access": 10, "request": 20}, ["access", "request", "data"],
     False),
    # duplicates count once
    (["data", "data", "access"], {"data": 5, "access": 1}, ["access", "data"], False),
    # a term with no postings costs nothing and stays
    (["ghost", "data"], {"data": 5}, ["ghost", "data"], False),
    # past the budget the common term goes
    (["data", "access", "request"], {"data": MAX_POSTINGS, "access": 10, "request": 20},
     ["access", "request"], False),
    # the two rarest always stay; when they alone are over the budget they are ANDed
    (["data", "personal", "user"], {"data": 9000, "personal": 8000, "user": 9500}, ["personal", "data"],
     True),
    # one term is never ANDed with itself
    (["data"], {"data": 50_000}, ["data"], False),
    ([], {}, [], False),
])
def test_rarest_terms(terms: list[str], df: dict[str, float], kept: list[str], conjunctive: bool) -> None:
    got, total, conj = rarest_terms(terms, _postings(df))
    assert got == kept and conj is conjunctive
    assert total == sum(df.get(t, 0.0) for t in kept)


@pytest.mark.parametrize(("value", "expected"), [
    ({"d": date(2022, 10, 1)}, {"d": "2022-10-01"}),
    ({"t": datetime(2022, 10, 1, 9, 30)}, {"t": "2022-10-01T09:30:00"}),
    ((1, "a", None), [1, "a", None]),
    ({"s": {3}}, {"s": [3]}),
    ({1: True, 2.5: 1.5}, {"1": True, "2.5": 1.5}),
    ({"p": Path("/x/y")}, {"p": "/x/y"}),
    ({"nested": [{"d": date(2020, 1, 1)}]}, {"nested": [{"d": "2020-01-01"}]}),
    ("第486章", "第486章"),
])
def test_jsonable(value: object, expected: object) -> None:
    assert jsonable(value) == expected


@pytest.mark.parametrize("citation", [
    Citation(kind="legislation", cap="486", section="18", subsection=("1", "a"), lang="en"),
    Citation(kind="legislation", cap="486", section="4", schedule="1", lang="zh-Hant"),
    Citation(kind="judgment", neutral_citation="[2025] HKCFI 4195", paragraph=12),
    Citation(kind="judgment", doc_id="judgment:HCA 1/2020"),
    Citation(kind="document", doc_id="doc:guide", section="Part 2 > Consent"),
])
def test_citation_json_round_trip(citation: Citation) -> None:
    assert citation_from_json(citation.to_dict()) == citation
    assert citation_from_json(jsonable(citation.to_dict())) == citation


def test_citation_from_partial_json_defaults() -> None:
    assert citation_from_json({}) == Citation(kind="document")
    assert citation_from_json({"kind": "legislation", "cap": "1", "subsection": None}).subsection == ()


def test_small_helpers() -> None:
    assert as_date(None) is None and as_date(D2022) is D2022
    assert as_date("2022-10-01") == D2022 and as_date("2022-10-01 00:00:00") == D2022
    assert [list(c) for c in in_chunks([1, 2, 3, 4, 5], 2)] == [[1, 2], [3, 4], [5]]
    assert list(in_chunks([], 3)) == []
    assert version_tag(D2022) == "2022-10-01"
    full = SearchFilters(kind="legislation", cap="486", lang="en", collection="c", version_date=D2020,
                         as_of=D2022, include_superseded=True)
    assert full.without_lang() == SearchFilters(kind="legislation", cap="486", collection="c",
                                                version_date=D2020, as_of=D2022, include_superseded=True)


def test_stored_unit_to_dict(store: SQLiteKBStore) -> None:
    doc_id = store.put_document(chapter(D2022, {"18": "body"})).document_id
    (unit,) = store.document_units(doc_id)
    out = unit.to_dict()
    assert out["text"] == "body" and out["version_date"] == "2022-10-01" and out["is_current"] is True
    assert out["citation"] == Citation(kind="legislation", cap="486", section="18", lang="en").to_dict()
    assert (out["key"], out["document_key"], out["align_key"]) == ("s18", "cap:486:en", "486/s18")
    assert "text" not in unit.to_dict(with_text=False)
