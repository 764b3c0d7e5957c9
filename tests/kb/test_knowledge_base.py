"""``KnowledgeBase``: uploads (file names, sizes, repeats), search responses, show by unit id or citation in
English and Chinese forms and by version date, verify, stats, and the input checks shared with the API
(``make_filters``, ``parse_date``, ``safe_filename``). Synthetic HKLM chapters, the hash embedder."""

from __future__ import annotations

import hashlib
import shutil
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from hkllm.errors import InvalidRequest, NotFound, RequestTooLarge
from hkllm.kb.embed.hash import HashEmbedder
from hkllm.kb.knowledge_base import (
    MAX_VERIFY_CHARS,
    KnowledgeBase,
    make_filters,
    parse_date,
    safe_filename,
)
from hkllm.kb.store.open import open_store
from hkllm.kb.store.records import SearchFilters
from hkllm.store.db import Database
from tests.kb.test_kb_cli import hklm

OLD, NEW = "2020-01-01", "2022-10-01"

EN_OLD = {"18": ("Data access request", "An individual may make a data access request to a data user.")}
EN_NEW = {"18": ("Data access request", "An individual may make a data access request in writing."),
          "35C": ("Direct marketing", "A data user must inform the data subject before direct marketing.")}
ZH_NEW = {"18": ("查閱資料要求", "個人可以書面向資料使用者提出查閱資料要求。"),
          "35C": ("直接促銷", "資料使用者在直接促銷前須通知資料當事人。")}
PRINCIPLES_EN = {"4": ("Security of personal data", "A data user must protect personal data against loss.")}
PRINCIPLES_ZH = {"4": ("個人資料的保安", "資料使用者須保障個人資料不會遺失。")}


def xml(lang: str, sections: dict[str, tuple[str, str]], when: str, *,
        schedule: dict[str, tuple[str, str]] | None = None) -> bytes:
    return hklm("486", lang, sections, date=when, schedule=schedule).encode("utf-8")


def new_kb(root: Path) -> KnowledgeBase:
    return KnowledgeBase(open_store(f"sqlite:///{root / 'kb.db'}"), HashEmbedder(), root / "uploads",
                         max_upload_bytes=50_000)


@pytest.fixture
def kb(tmp_path: Path, empty_db: Path) -> KnowledgeBase:
    shutil.copy(empty_db, tmp_path / "kb.db")
    return new_kb(tmp_path)


@pytest.fixture(scope="module")
def cap486(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    """Cap. 486 in English (2020 and 2022 versions) and Chinese (2022), and a guide; for read-only tests."""
    base = new_kb(tmp_path_factory.mktemp("cap486"))
    for name, body in (("cap486_en_2020.xml", xml("en", EN_OLD, OLD)),
                       ("cap486_en_2022.xml", xml("en", EN_NEW, NEW, schedule=PRINCIPLES_EN)),
                       ("cap486_zh_2022.xml", xml("zh-Hant-HK", ZH_NEW, NEW, schedule=PRINCIPLES_ZH)),
                       ("guide.md", b"# Guide\n\n## Consent\n\nAsk before you use personal data.\n")):
        assert base.ingest_upload(name, body).report.ok
    return base


def unit_texts(result: object) -> dict[str, str]:
    return {u.unit.lang: u.unit.text for u in result.units}  # type: ignore[attr-defined]


# -- opening -------------------------------------------------------------------------------------------------

def test_open_builds_over_a_database_and_data_dir(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'hkllm.db'}")
    try:
        opened = KnowledgeBase.open(db, data_dir=tmp_path, embedder="none", max_upload_bytes=123)
        assert opened.uploads_dir == tmp_path / "kb" / "uploads" and opened.max_upload_bytes == 123
        assert opened.embedder is None and opened.store.engine is db.engine
        assert not opened.uploads_dir.exists()  # nothing written until an upload arrives
        with pytest.raises(InvalidRequest) as bad:
            KnowledgeBase.open(db, data_dir=tmp_path, embedder="word2vec")
        assert bad.value.param == "kb_embedder"
    finally:
        db.dispose()


def test_without_an_embedder_search_is_bm25_only(kb: KnowledgeBase) -> None:
    kb = KnowledgeBase(kb.store, None, kb.uploads_dir)
    kb.ingest_upload("cap486.xml", xml("en", EN_NEW, NEW))
    hits = kb.search("direct marketing", k=1).hits
    assert hits[0].unit.citation.section == "35C" and hits[0].dense_rank is None
    with pytest.raises(InvalidRequest) as dense:
        kb.search("direct marketing", mode="dense")
    assert dense.value.param == "mode"


def test_warm_up_reports_failure_instead_of_raising(kb: KnowledgeBase) -> None:
    class Broken(HashEmbedder):
        def embed_query(self, text: str):  # noqa: ANN201
            raise RuntimeError("model file missing")

    assert kb.warm_up() is True
    kb.embedder = Broken()
    assert kb.warm_up() is False


# -- uploads -------------------------------------------------------------------------------------------------

def test_upload_is_kept_by_content_hash_and_ingested(kb: KnowledgeBase) -> None:
    body = xml("en", EN_NEW, NEW)
    result = kb.ingest_upload("Cap 486 (English).xml", body)
    digest = hashlib.sha256(body).hexdigest()
    kept = kb.uploads_dir / digest[:16] / "Cap_486_English_.xml"
    assert result.sha256 == digest and result.filename == "Cap 486 (English).xml"  # the name as sent
    assert kept.read_bytes() == body
    (outcome,) = result.report.outcomes
    assert (outcome.status, outcome.source, outcome.units) == ("added", "Cap 486 (English).xml", 2)  # no path
    out = result.to_dict()
    assert out["object"] == "kb.ingest" and out["sha256"] == digest
    assert out["summary"]["added"] == 1 and out["outcomes"][0]["document_key"] == "cap:486:en"


@pytest.mark.parametrize("name", ["../../etc/passwd.xml", "..\\..\\windows\\cap.xml", "/abs/path/cap.xml",
                                  "C:\\x\\y.xml"])
def test_an_upload_name_cannot_leave_the_uploads_folder(kb: KnowledgeBase, name: str) -> None:
    result = kb.ingest_upload(name, xml("en", EN_NEW, NEW))
    uploads = kb.uploads_dir.resolve()
    (kept,) = [p.resolve() for p in uploads.rglob("*") if p.is_file()]
    assert kept.parent.parent == uploads
    assert result.report.ok and "/" not in result.report.outcomes[0].source


def test_empty_upload_is_refused_and_nothing_written(kb: KnowledgeBase) -> None:
    with pytest.raises(InvalidRequest) as empty:
        kb.ingest_upload("cap.xml", b"")
    assert empty.value.param == "file"
    assert not kb.uploads_dir.exists()


def test_oversized_upload_is_refused_before_anything_is_written(kb: KnowledgeBase) -> None:
    kb.max_upload_bytes = 100
    with pytest.raises(RequestTooLarge, match="100 bytes"):
        kb.ingest_upload("cap.xml", b"x" * 101)
    assert not kb.uploads_dir.exists()
    kb.check_upload_size(100)  # at the limit: fine
    kb.check_upload_size(None)  # unknown (chunked): counted by the caller
    with pytest.raises(RequestTooLarge):
        kb.check_upload_size(101)


def test_the_same_file_twice_is_skipped_and_kept_once(kb: KnowledgeBase) -> None:
    body = xml("en", EN_NEW, NEW)
    first, second = kb.ingest_upload("cap.xml", body), kb.ingest_upload("cap.xml", body)
    assert first.report.summary()["added"] == 1
    assert second.report.summary()["skipped"] == 1 and second.report.outcomes[0].code == "already_ingested"
    assert len(list(kb.uploads_dir.rglob("*"))) == 2  # one folder, one file
    assert kb.stats()["documents"] == 1
    forced = kb.ingest_upload("cap.xml", body, force=True)
    assert forced.report.summary()["replaced"] == 1 and kb.stats()["documents"] == 1


def test_two_files_with_the_same_name_are_both_kept(kb: KnowledgeBase) -> None:
    old, new = xml("en", EN_OLD, OLD), xml("en", EN_NEW, NEW)
    kb.ingest_upload("cap486.xml", old)
    result = kb.ingest_upload("cap486.xml", new)
    assert result.report.outcomes[0].superseded  # the newer version took over
    kept = sorted(p.read_bytes() for p in kb.uploads_dir.rglob("cap486.xml"))
    assert kept == sorted([old, new])
    assert [d.is_current for d in kb.store.list_documents()] == [False, True]


def test_new_content_for_the_same_version_replaces_it(kb: KnowledgeBase) -> None:
    kb.ingest_upload("a.xml", xml("en", EN_OLD, NEW))
    result = kb.ingest_upload("b.xml", xml("en", EN_NEW, NEW))
    assert result.report.summary()["replaced"] == 1
    assert kb.stats()["documents"] == 1 and kb.stats()["units"] == 2


def test_a_malformed_upload_reports_the_error_and_loses_nothing(kb: KnowledgeBase) -> None:
    kb.ingest_upload("cap486.xml", xml("en", EN_NEW, NEW))
    broken = kb.ingest_upload("cap486.xml", b"<ordinance><meta>")
    (outcome,) = broken.report.outcomes
    assert outcome.status == "error" and outcome.message and not broken.report.ok
    assert broken.to_dict()["summary"]["error"] == 1
    assert kb.stats(check=True)["integrity_problems"] == []
    assert kb.search("direct marketing", k=1).hits[0].unit.citation.section == "35C"


@pytest.mark.parametrize("collection", ["", "c" * 101])
def test_collection_name_is_checked(kb: KnowledgeBase, collection: str) -> None:
    with pytest.raises(InvalidRequest) as bad:
        kb.ingest_upload("cap.xml", xml("en", EN_NEW, NEW), collection=collection)
    assert bad.value.param == "collection"
    assert kb.stats()["documents"] == 0


def test_ingest_paths_reports_each_outcome_as_it_happens(kb: KnowledgeBase, tmp_path: Path) -> None:
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "cap486_en.xml").write_bytes(xml("en", EN_NEW, NEW))
    (folder / "cap486_zh.xml").write_bytes(xml("zh-Hant-HK", ZH_NEW, NEW))
    seen: list[str] = []
    report = kb.ingest([folder], collection="firm", on_outcome=lambda o: seen.append(o.status))
    assert seen == ["added", "added"] and report.ok
    assert kb.stats()["collections"] == {"firm": 2}


# -- search --------------------------------------------------------------------------------------------------

def test_search_response_to_dict(cap486: KnowledgeBase) -> None:
    response = cap486.search("direct marketing", k=2)
    out = response.to_dict()
    assert {"query", "mode", "hits", "expansions", "timings_ms"} <= set(out)
    assert (out["query"], out["mode"], out["expansions"]) == ("direct marketing", "hybrid", [])
    assert [h["rank"] for h in out["hits"]] == list(range(1, len(out["hits"]) + 1)) and len(out["hits"]) <= 2
    top = out["hits"][0]
    assert top["citation"]["section"] == "35C" and top["lang"] == "en" and top["is_current"] is True
    assert top["aligned"] and top["aligned"][0]["lang"] == "zh-Hant"
    assert {"analyse", "fuse", "total"} <= set(out["timings_ms"])
    assert all(round(ms, 2) == ms for ms in out["timings_ms"].values())


def test_search_in_chinese_and_with_filters(cap486: KnowledgeBase) -> None:
    chinese = cap486.search("直接促销", k=1)  # Simplified query, Traditional text
    assert chinese.hits[0].unit.lang == "zh-Hant" and chinese.hits[0].unit.citation.section == "35C"
    english_in_chinese = cap486.search("direct marketing", k=1, filters=make_filters(lang="zh-HK"))
    assert english_in_chinese.hits[0].unit.text.startswith("(1) 資料使用者在直接促銷前")
    then = cap486.search("data access request", k=5, filters=make_filters(as_of="2021-01-01", lang="en",
                                                                                  kind="legislation"))
    assert [h.unit.version_date for h in then.hits] == [date(2020, 1, 1)]
    documents = cap486.search("consent personal data", k=5, filters=make_filters(kind="document"))
    assert {h.unit.kind for h in documents.hits} == {"document"}


def test_cantonese_search_reports_its_expansion(cap486: KnowledgeBase) -> None:
    response = cap486.search("佢哋可唔可以攞我啲資料", k=1, mode="bm25")
    assert response.expansions == ["他们可不可以拿我些资料"] and response.mode == "bm25"
    assert response.to_dict()["expansions"] == response.expansions


# -- show ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ref", ["Cap. 486 s. 35C", "cap 486 s 35C", "第486章第35C條", "Cap. 486, s. 35C",
                                 "  Cap. 486 s. 35C  ", "《個人資料(私隱)條例》(第486章)第35C條"])
def test_show_a_section_in_english_and_chinese_forms(cap486: KnowledgeBase, ref: str) -> None:
    shown = cap486.show(ref)
    assert shown.citation is not None and (shown.citation.cap, shown.citation.section) == ("486", "35C")
    texts = unit_texts(shown)
    assert set(texts) == {"en", "zh-Hant"}
    assert texts["en"].startswith("(1) A data user must inform") and texts["zh-Hant"].startswith("(1) 資料使用者")
    for unit in shown.units:  # each names the other language's version and its document's versions
        assert [a["lang"] for a in unit.aligned] == ["zh-Hant" if unit.unit.lang == "en" else "en"]
        current = {"document_id": unit.unit.document_id, "version_date": NEW, "is_current": True}
        assert unit.versions[-1] == current


def test_show_one_language(cap486: KnowledgeBase) -> None:
    assert set(unit_texts(cap486.show("Cap. 486 s. 35C", lang="zh-Hant"))) == {"zh-Hant"}
    assert set(unit_texts(cap486.show("第486章第35C條", lang="en"))) == {"en"}


def test_show_by_unit_id(cap486: KnowledgeBase) -> None:
    target = cap486.show("Cap. 486 s. 35C", lang="en").units[0].unit
    shown = cap486.show(str(target.id))
    assert shown.citation is None and [u.unit.id for u in shown.units] == [target.id]
    assert cap486.show(target.id).units[0].unit.text == target.text  # an int works too
    out = shown.to_dict()
    assert "citation" not in out and "documents" not in out
    assert out["units"][0]["id"] == target.id and out["units"][0]["aligned"][0]["lang"] == "zh-Hant"


def test_show_keeps_every_version_of_the_document(cap486: KnowledgeBase) -> None:
    (unit,) = cap486.show("Cap. 486 s. 18", lang="en").units
    assert [(v["version_date"], v["is_current"]) for v in unit.versions] == [(OLD, False), (NEW, True)]
    assert unit.unit.text.endswith("in writing.")


@pytest.mark.parametrize(("version_date", "ending"), [
    ("2021-06-30", "to a data user."), (date(2020, 1, 1), "to a data user."), ("2022-10-01", "in writing."),
    (None, "in writing."),
])
def test_show_the_version_in_force(cap486: KnowledgeBase, version_date: str | date | None,
                                   ending: str) -> None:
    (unit,) = cap486.show("Cap. 486 s. 18", lang="en", version_date=version_date).units
    assert unit.unit.text.endswith(ending)


def test_show_a_provision_not_yet_in_force_is_not_found(cap486: KnowledgeBase) -> None:
    with pytest.raises(NotFound) as missing:
        cap486.show("Cap. 486 s. 35C", version_date="2021-01-01")
    assert missing.value.param == "ref"
    with pytest.raises(NotFound):
        cap486.show("Cap. 486", version_date="2019-12-31")


def test_show_a_whole_chapter_lists_its_contents(cap486: KnowledgeBase) -> None:
    shown = cap486.show("Cap. 486")
    assert shown.units == [] and shown.documents is not None
    assert {d.document.lang for d in shown.documents} == {"en", "zh-Hant"}
    out = shown.to_dict()
    english = next(d for d in out["documents"] if d["lang"] == "en")
    assert english["version_date"] == NEW and english["is_current"] is True
    assert [c["key"] for c in english["contents"]] == ["s18", "s35C", "sch1/s4"]
    assert set(english["contents"][0]) == {"id", "key", "heading"}  # contents, not texts
    only_chinese = cap486.show("第486章", lang="zh-Hant").documents
    assert only_chinese is not None and [d.document.lang for d in only_chinese] == ["zh-Hant"]
    old = cap486.show("Cap. 486", version_date="2021-01-01").documents
    assert old is not None and [d.document.version_date for d in old] == [date(2020, 1, 1)]


def test_show_a_schedule_and_a_schedule_section(cap486: KnowledgeBase) -> None:
    assert set(unit_texts(cap486.show("Cap. 486 Sch. 1"))) == {"en", "zh-Hant"}
    shown = cap486.show("第486章附表1第4條", lang="zh-Hant")
    assert shown.units[0].unit.ukey == "sch1/s4" and "保障個人資料" in shown.units[0].unit.text


def test_show_a_unit_without_other_language_versions(cap486: KnowledgeBase) -> None:
    guide = cap486.search("consent", k=1, filters=make_filters(kind="document")).hits[0].unit
    out = cap486.show(guide.id).to_dict()["units"][0]
    assert out["align_key"] is None and "aligned" not in out
    assert out["versions"] == [{"document_id": guide.document_id, "version_date": None, "is_current": True}]


@pytest.mark.parametrize("ref", ["Cap. 486 s. 99", "第486章第99條", "Cap. 999", "Cap. 999 s. 1",
                                 "Cap. 486 Sch. 9", "[2025] HKCFI 4195", "0", "424242"])
def test_show_unknown_is_not_found(cap486: KnowledgeBase, ref: str) -> None:
    with pytest.raises(NotFound) as missing:
        cap486.show(ref)
    assert missing.value.param == "ref" and missing.value.status == 404


@pytest.mark.parametrize("ref", ["", "hello world", "-1", "s. 18", "Cap. 486 s. 18 and s. 19 of the other",
                                 "第十八條"])
def test_show_unparsable_is_invalid_naming_ref(cap486: KnowledgeBase, ref: str) -> None:
    with pytest.raises(InvalidRequest) as bad:
        cap486.show(ref)
    assert bad.value.param == "ref" and bad.value.status == 400


def test_show_bad_version_date_names_it(cap486: KnowledgeBase) -> None:
    with pytest.raises(InvalidRequest) as bad:
        cap486.show("Cap. 486 s. 18", version_date="last Tuesday")
    assert bad.value.param == "version_date"


@pytest.mark.parametrize(("ref", "error"), [
    ("²", InvalidRequest),  # isdigit() is true for it, but int() refuses it: not a unit id
    ("99999999999999999999", NotFound),  # past SQLite's 64-bit integers: no such unit, not an OverflowError
    ("１２３４５", NotFound),  # full-width digits are a unit id
])
def test_show_odd_numbers_are_refused_cleanly(cap486: KnowledgeBase, ref: str,
                                              error: type[Exception]) -> None:
    with pytest.raises(error) as refused:
        cap486.show(ref)
    assert refused.value.param == "ref"  # type: ignore[attr-defined]


def test_show_bad_lang_names_it(cap486: KnowledgeBase) -> None:
    with pytest.raises(InvalidRequest) as bad:
        cap486.show("Cap. 486 s. 18", lang="klingon")
    assert bad.value.param == "lang"


# -- verify --------------------------------------------------------------------------------------------------

def test_verify_resolved_and_fabricated_citations(cap486: KnowledgeBase) -> None:
    text = "Under Cap. 486 s. 35C and 第486章第18條, but not Cap. 486 s. 35Z, 第486章第99條 or Cap. 999 s. 1."
    result = cap486.verify(text)
    out = result.to_dict()
    status = {c["text"]: (c["resolved"], c["status"]) for c in out["citations"]}
    assert status == {"Cap. 486 s. 35C": (True, "resolved"), "第486章第18條": (True, "resolved"),
                      "Cap. 486 s. 35Z": (False, "not_found"), "第486章第99條": (False, "not_found"),
                      "Cap. 999 s. 1": (False, "outside_kb")}
    assert (out["resolved"], out["unresolved"], out["ok"]) == (2, 3, False)
    assert (result.resolved, result.unresolved) == (2, 3)
    chinese = next(c for c in out["citations"] if c["text"] == "第486章第18條")
    assert chinese["formatted"] == "第486章第18條"
    assert chinese["source"]["lang"] == "zh-Hant" and chinese["source"]["unit_key"] == "s18"
    assert chinese["source"]["version_date"] == NEW and chinese["source"]["heading"] == "查閱資料要求"
    outside = next(c for c in out["citations"] if c["text"] == "Cap. 999 s. 1")
    assert outside["source"] is None


def test_verify_at_a_version_date(cap486: KnowledgeBase) -> None:
    assert cap486.verify("Cap. 486 s. 35C", version_date="2022-10-01").to_dict()["ok"] is True
    then = cap486.verify("Cap. 486 s. 35C", version_date=date(2021, 1, 1)).to_dict()
    assert then["ok"] is False and then["citations"][0]["status"] == "not_found"


def test_verify_text_without_citations_is_ok(cap486: KnowledgeBase) -> None:
    assert cap486.verify("No citations here.").to_dict() == {"citations": [], "resolved": 0, "unresolved": 0,
                                                             "ok": True}


def test_verify_refuses_too_long_text_and_bad_dates(cap486: KnowledgeBase) -> None:
    with pytest.raises(InvalidRequest) as long:
        cap486.verify("x" * (MAX_VERIFY_CHARS + 1))
    assert long.value.param == "text"
    with pytest.raises(InvalidRequest) as bad:
        cap486.verify("Cap. 486 s. 18", version_date="2022/10/01")
    assert bad.value.param == "version_date"


# -- stats, reindex ------------------------------------------------------------------------------------------

def test_stats_lists_documents_and_checks_integrity_on_request(kb: KnowledgeBase) -> None:
    kb.ingest_upload("cap.xml", xml("en", EN_NEW, NEW))
    plain = kb.stats()
    assert plain["documents"] == 1 and plain["units"] == 2 and "integrity_problems" not in plain
    assert [d["key"] for d in plain["documents_list"]] == ["cap:486:en"]
    assert kb.stats(check=True)["integrity_problems"] == []
    with kb.store.engine.begin() as conn:
        conn.execute(text("UPDATE kb_document SET unit_count = 7"))
    problems = kb.stats(check=True)["integrity_problems"]
    assert problems == [f"document {plain['documents_list'][0]['id']}: 2 units stored, 7 expected"]


def test_reindex_counts_every_unit(kb: KnowledgeBase) -> None:
    kb.ingest_upload("cap.xml", xml("en", EN_NEW, NEW, schedule=PRINCIPLES_EN))
    assert kb.reindex() == 3
    assert kb.search("direct marketing", k=1, mode="bm25").hits[0].unit.citation.section == "35C"


# -- input checks --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "param"), [
    ({"kind": "statute"}, "kind"),
    ({"kind": "Legislation"}, "kind"),
    ({"lang": "fr"}, "lang"),
    ({"lang": "klingon"}, "lang"),
    ({"version_date": "2022-13-01"}, "version_date"),
    ({"version_date": "01/10/2022"}, "version_date"),
    ({"as_of": "yesterday"}, "as_of"),
    ({"as_of": ""}, "as_of"),
])
def test_make_filters_names_the_bad_parameter(kwargs: dict[str, str], param: str) -> None:
    with pytest.raises(InvalidRequest) as bad:
        make_filters(**kwargs)  # type: ignore[arg-type]
    assert bad.value.param == param and param in bad.value.message


def test_make_filters_accepts_good_input() -> None:
    assert make_filters() == SearchFilters()
    got = make_filters(kind="judgment", cap="486", lang="zh-HK", collection="firm", version_date="2022-10-01",
                       as_of=date(2023, 1, 1), include_superseded=True)
    assert got == SearchFilters(kind="judgment", cap="486", lang="zh-HK", collection="firm",
                                version_date=date(2022, 10, 1), as_of=date(2023, 1, 1),
                                include_superseded=True)
    for lang in ("en", "EN-gb", "zh-Hant", "zh-Hans", "yue", "zh"):
        assert make_filters(lang=lang).lang == lang


@pytest.mark.parametrize(("value", "expected"), [
    (None, None), ("2022-10-01", date(2022, 10, 1)), (date(2020, 2, 29), date(2020, 2, 29)),
    ("20221001", date(2022, 10, 1)),  # ISO basic form
])
def test_parse_date(value: str | date | None, expected: date | None) -> None:
    assert parse_date(value, "when") == expected


@pytest.mark.parametrize("value", ["2021-02-29", "tomorrow", "2022-10", "１２３"])
def test_parse_date_refuses_and_names_the_param(value: str) -> None:
    with pytest.raises(InvalidRequest) as bad:
        parse_date(value, "as_of")
    assert bad.value.param == "as_of" and "as_of" in bad.value.message


SAFE_NAMES = [
    ("cap486.xml", "cap486.xml"),
    ("../../etc/passwd", "passwd"),
    ("C:\\x\\y.txt", "y.txt"),
    ("/var/tmp/cap 486 (2022).zip", "cap_486_2022_.zip"),
    ("私隱條例.pdf", "私隱條例.pdf"),
    ("個人資料（私隱）條例.docx", "個人資料_私隱_條例.docx"),
    ("", "upload"),
    ("...", "upload"),
    ("..", "upload"),
    ("/", "upload"),
    (".hidden.md", "hidden.md"),
    ("name\x00.xml", "name_.xml"),
    ("a/b/", "b"),
    ("x" * 300, "x" * 150),
]


@pytest.mark.parametrize(("name", "expected"), SAFE_NAMES)
def test_safe_filename(name: str, expected: str) -> None:
    safe = safe_filename(name)
    assert safe == expected
    assert "/" not in safe and "\\" not in safe and safe not in ("", ".", "..")


@pytest.mark.parametrize("name", ["a" * 200 + ".xml", "私隱" * 100 + ".xml"])
def test_a_long_upload_name_keeps_its_type_and_fits_the_file_system(name: str) -> None:
    safe = safe_filename(name)
    assert safe.endswith(".xml") and len(safe.encode("utf-8")) <= 255


@pytest.mark.parametrize("name", ["개인정보.pdf", "ｆｕｌｌ.xml"])
def test_a_name_of_unsafe_characters_keeps_its_extension(name: str) -> None:
    assert safe_filename(name).endswith("." + name.rsplit(".", 1)[1])


def test_short_titles_and_abbreviations_show_and_verify(cap486: KnowledgeBase) -> None:
    """「PDPO s 35C」 and 《私隱條例》 name Cap. 486 (short_titles.tsv); the verifier accepts them as its
    titles and still refuses another ordinance's title on this chapter."""
    assert cap486.show("PDPO s 35C").units[0].unit.heading == "Direct marketing"
    assert unit_texts(cap486.show("《私隱條例》第18條", lang="zh-Hant"))["zh-Hant"].endswith("提出查閱資料要求。")
    out = cap486.verify("See PDPO s 35C, 《私隱條例》第18條 and s. 99 of the PDPO. Also, Employment Ordinance "
                        "(Cap. 486) s. 18.").to_dict()
    assert [(c["text"], c["status"]) for c in out["citations"]] == [
        ("PDPO s 35C", "resolved"), ("《私隱條例》第18條", "resolved"), ("s. 99 of the PDPO", "not_found"),
        ("Employment Ordinance (Cap. 486) s. 18", "title_mismatch")]
