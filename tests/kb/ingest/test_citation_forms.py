"""More Hong Kong citation forms: legislation by title only, Chinese forms with full-width digits, judgments,
document sections, invalid citations, offsets in mixed Cantonese/English text, and the verifier on documents
and judgments (no shared data needed)."""

from __future__ import annotations

from datetime import date

import pytest

from hkllm.errors import InvalidRequest
from hkllm.kb.citation_parse import normalize_title, normalize_width
from hkllm.kb.citations import (
    CitationParseError,
    InMemoryResolver,
    cite,
    find_citations,
    format_citation,
    parse_citation,
    quote_matches,
    source_citation,
    verify_citation,
    verify_citations,
)
from hkllm.kb.types import Citation, SourceDocument, Unit

ZH = "zh-Hant"
TITLES = {"personaldata(privacy)ordinance": "486", "個人資料(私隱)條例": "486",
          "dangerousdrugsordinance": "134", "危險藥物條例": "134"}


def leg(cap: str, sec: str | None = None, sub: tuple[str, ...] = (), sch: str | None = None,
        lang: str = "en") -> Citation:
    return Citation(kind="legislation", cap=cap, section=sec, subsection=sub, schedule=sch, lang=lang)


def jud(nc: str, para: int | None = None, lang: str | None = None) -> Citation:
    return Citation(kind="judgment", neutral_citation=nc, paragraph=para, lang=lang)


FORMS = [
    # English, case and spacing variants
    ("CAP. 486 S. 18", leg("486", "18")),
    ("cap. 486 s. 18", leg("486", "18")),
    ("Cap. 486 s 18(1)(a)(ii)", leg("486", "18", ("1", "a", "ii"))),
    ("Cap. 486A s. 2", leg("486A", "2")),
    ("Cap. 486 s. 18A(1)", leg("486", "18A", ("1",))),
    ("Section 18 of Cap. 486", leg("486", "18")),
    ("s. 64 of the Personal Data (Privacy) Ordinance (Cap. 486)", leg("486", "64")),
    ("Cap．４８６ ｓ．１８", leg("486", "18")),  # full-width letters, digits and full stop
    ("data protection principle 3", leg("486", "3", sch="1")),
    # by title, through the title index
    ("section 35C of the Personal Data (Privacy) Ordinance", leg("486", "35C")),
    ("s. 4(1)(a) of the Dangerous Drugs Ordinance", leg("134", "4", ("1", "a"))),
    ("《個人資料(私隱)條例》第18條", leg("486", "18", lang=ZH)),
    ("《危險藥物條例》第4(1)(a)條", leg("134", "4", ("1", "a"), lang=ZH)),
    ("《個人資料(私隱)條例》附表1第4條", leg("486", "4", sch="1", lang=ZH)),
    # Chinese
    ("第486章第18(1)條", leg("486", "18", ("1",), lang=ZH)),
    ("第 486 章 第 18 條", leg("486", "18", lang=ZH)),
    ("香港法例第 486 章", leg("486", lang=ZH)),
    ("《個人資料（私隱）條例》（第486章）第18條", leg("486", "18", lang=ZH)),
    ("第486章第35C條", leg("486", "35C", lang=ZH)),
    ("第486章附表1第2條", leg("486", "2", sch="1", lang=ZH)),
    ("第486章第18（1）（a）條", leg("486", "18", ("1", "a"), lang=ZH)),
    # judgments
    ("[2025] HKCFI 4195 at [12]-[15]", jud("[2025] HKCFI 4195", 12)),
    ("[2025] HKCFA 1 at para. 3", jud("[2025] HKCFA 1", 3)),
    ("[2025] HKCFA 1, paragraph 3", jud("[2025] HKCFA 1", 3)),
    ("[1999] HKCFA 1", jud("[1999] HKCFA 1")),
    ("[2025] HKCFI 04195", jud("[2025] HKCFI 4195")),  # leading zero dropped from the number
    # documents
    ("doc:privacy-guide § Part 1 > Scope.", Citation(kind="document", doc_id="doc:privacy-guide",
                                                     section="Part 1 > Scope")),
]


@pytest.mark.parametrize(("text", "expected"), FORMS, ids=[t for t, _ in FORMS])
def test_more_forms_parse(text: str, expected: Citation) -> None:
    assert parse_citation(text, titles=TITLES) == expected


NOT_CITATIONS = [
    "HCAL 123/2024",  # an action number, not a neutral citation (judgments.find_case_citations reads those)
    "HCCC 66/2025",
    "[2025] HKXYZ 1",  # no such court
    "Cap. 12345 s. 1",  # chapter numbers have at most four digits
    "DPP 7",  # there are six data protection principles
    "第7保障資料原則",
    "附表1第2條",  # a schedule without its chapter
    "Cap. 486 s. 18(1)(a) and Cap. 1 s. 3",  # two citations, not one
    "the Ordinance",
    "s.18(1)(a) Cap. 486",
    "我今日好busy",
    "　",
]


@pytest.mark.parametrize("text", NOT_CITATIONS)
def test_not_one_citation_is_a_typed_400(text: str) -> None:
    with pytest.raises(CitationParseError) as info:
        parse_citation(text, titles=TITLES)
    err = info.value
    assert isinstance(err, InvalidRequest) and err.status == 400
    assert err.code == "citation_parse_error" and err.param == "citation"
    assert repr(text) in err.message


def test_parse_returns_the_first_of_several_subsections() -> None:
    assert parse_citation("Cap. 486 section 18(1) and (2)") == leg("486", "18", ("1",))
    found = find_citations("第486章第18(1)及(2)條")
    assert [f.citation.subsection for f in found] == [("1",), ("2",)]
    assert found[0].start == found[1].start and found[0].end == found[1].end  # one span, two provisions


@pytest.mark.parametrize(
    ("text", "spans"),
    [
        ("根據《個人資料(私隱)條例》第18條，資料當事人可提出查閱資料要求。", ["《個人資料(私隱)條例》第18條"]),
        ("依據第４８６章第１８（１）（ａ）條", ["第４８６章第１８（１）（ａ）條"]),
        ("See Cap. 486, s. 18; cf. [2025] HKCFI 4195 at [12] and doc:privacy-guide § Scope.",
         ["Cap. 486, s. 18", "[2025] HKCFI 4195 at [12]", "doc:privacy-guide § Scope"]),
        ("我想問吓第486章附表1第4條係講乜嘢", ["第486章附表1第4條"]),
        ("喺[2024] HKCA 150，第23段入面法官話……", ["[2024] HKCA 150，第23段"]),
        ("我今日好busy，冇時間睇Cap. 486", ["Cap. 486"]),
        ("電話 2123 4567，地址：荃灣大河道 99 號", []),
        ("旺角警署 18 號房，第3段", []),
    ],
)
def test_spans_in_running_text_are_the_original_characters(text: str, spans: list[str]) -> None:
    found = find_citations(text, titles=TITLES)
    assert [f.text for f in found] == spans
    assert all(text[f.start:f.end] == f.text for f in found)  # offsets index the text as written (full width)


def test_titles_are_carried_and_normalised() -> None:
    (found,) = find_citations("The Personal Data (Privacy) Ordinance (Cap. 486), Sch. 1 s. 4 applies.")
    assert found.citation == leg("486", "4", sch="1") and found.title == "The Personal Data (Privacy) Ordinance"
    assert normalize_title(found.title) == "personaldata(privacy)ordinance"
    assert normalize_title("《個人資料（私隱）條例》") == "個人資料(私隱)條例"
    assert normalize_width("（第４８６章）") == "(第486章)"
    assert len(normalize_width("ＡＢＣ　１２３")) == len("ＡＢＣ　１２３")  # one character for one


def test_chinese_judgment_pinpoint_sets_the_language() -> None:
    (found,) = find_citations("喺[2024] HKCA 150，第23段入面")
    assert found.citation == jud("[2024] HKCA 150", 23, ZH)
    (english,) = find_citations("in [2024] HKCA 150 at [23]")
    assert english.citation.lang is None


# ---------------------------------------------------------------- formatting


@pytest.mark.parametrize(
    ("citation", "lang", "title", "expected"),
    [
        (leg("486", sch="1"), ZH, "個人資料(私隱)條例", "《個人資料(私隱)條例》(第486章)附表1"),
        (leg("486", "4", ("1", "a"), "1"), "en", "Personal Data (Privacy) Ordinance",
         "Personal Data (Privacy) Ordinance (Cap. 486) Sch. 1 s. 4(1)(a)"),
        (leg("486", "18"), "ZH-hk", None, "第486章第18條"),  # any zh* language code is Chinese
        (leg("486", "18"), "en-GB", None, "Cap. 486 s. 18"),
        (Citation(kind="judgment", doc_id="judgment:HCCC 1/2024", paragraph=3), "en", None, "judgment:HCCC 1/2024 at [3]"),
        (Citation(kind="document", doc_id="doc:x"), ZH, None, "doc:x"),
    ],
)
def test_format_more(citation: Citation, lang: str, title: str | None, expected: str) -> None:
    assert format_citation(citation, lang, title=title) == expected


def test_format_refuses_what_it_cannot_write() -> None:
    with pytest.raises(ValueError, match="chapter number"):
        format_citation(Citation(kind="legislation", section="18"), "en")
    with pytest.raises(ValueError, match="unknown citation kind"):
        format_citation(Citation(kind="statute"), "en")  # type: ignore[arg-type]


@pytest.mark.parametrize("text", [t for t, c in FORMS if c.kind == "legislation"])
def test_every_legislation_form_survives_format_and_parse_in_both_languages(text: str) -> None:
    c = parse_citation(text, titles=TITLES)
    for lang in ("en", ZH):
        back = parse_citation(format_citation(c, lang))
        assert (back.cap, back.section, back.subsection, back.schedule) == (c.cap, c.section, c.subsection, c.schedule)
        assert back.lang == lang


def test_source_citation_drops_the_pinpoint() -> None:
    assert source_citation(leg("486", "18", ("1",), "1")) == leg("486")
    assert source_citation(jud("[2025] HKCFI 4195", 12, ZH)) == Citation(kind="judgment",
                                                                          neutral_citation="[2025] HKCFI 4195", lang=ZH)
    doc = Citation(kind="document", doc_id="doc:g", section="Part 1")
    assert source_citation(doc) == Citation(kind="document", doc_id="doc:g")


@pytest.mark.parametrize(
    ("quote", "source", "ok"),
    [
        ("", "anything", True),  # nothing quoted: nothing to check
        ("...", "anything", True),
        ("a data ... request", "a data access request", True),
        ("「資料使用者」", "資料使用者須採取所有切實可行的步驟", True),
        ("資料使用者 … 切實可行", "資料使用者須採取所有切實可行的步驟", True),
        ("切實可行 … 資料使用者", "資料使用者須採取所有切實可行的步驟", False),  # fragments must come in order
        ("ＡＬＬ  practicable", "all practicable steps", True),  # width and case
        ("all practicable steps—", "all practicable steps-", True),  # dash styles
        ("資料當事人", "資料使用者", False),
    ],
)
def test_quote_matches_more(quote: str, source: str, ok: bool) -> None:
    assert quote_matches(quote, source) is ok


# ---------------------------------------------------------------- resolver and verifier without shared data


def _doc_unit(key: str, section: str, text: str) -> Unit:
    return Unit(key=key, citation=Citation(kind="document", doc_id="doc:g", section=section), heading=section,
                text=text, lang="en", ordinal=int(key[-1]))


def _judgment(nc: str, lang: str, paras: list[str], *, corrigendum: bool = False,
              when: date = date(2025, 1, 2)) -> SourceDocument:
    key = f"judgment:{nc}" + (":corrigendum" if corrigendum else "")
    units = [Unit(key=f"para{i}", citation=jud(nc, i, lang), heading="", text=t, lang=lang, ordinal=i - 1)
             for i, t in enumerate(paras, 1)]
    return SourceDocument(kind="judgment", key=key, title=nc, lang=lang, version_date=when, source_path=key,
                          content_sha256="0" * 64, units=units,
                          meta={"neutral_citation": nc,
                                "document_type": "corrigendum" if corrigendum else "judgment"})


@pytest.fixture(scope="module")
def resolver() -> InMemoryResolver:
    guide = SourceDocument(kind="document", key="doc:g", title="Guide", lang="en", version_date=None, source_path="g.md",
                           content_sha256="1" * 64,
                           units=[_doc_unit("chunk1", "Part 1 > Scope", "Scope text."),
                                  _doc_unit("chunk2", "Part 1 > Scope", "More scope."),
                                  _doc_unit("chunk3", "Part 2", "Other.")])
    main = _judgment("[2025] HKCFI 7", "en", ["First.", "Second."], when=date(2025, 3, 1))
    corr = _judgment("[2025] HKCFI 7", "en", ["Corrected first."], corrigendum=True, when=date(2025, 4, 1))
    zh = _judgment("[2025] HKDC 9", ZH, ["第一段。", "第二段。"])
    return InMemoryResolver([guide, main, corr, zh])


def test_document_sections_join_their_chunks(resolver: InMemoryResolver) -> None:
    hit = resolver.resolve(Citation(kind="document", doc_id="doc:g", section="Part 1 > Scope"))
    assert hit is not None and hit.unit_key == "chunk1" and hit.text == "Scope text.\nMore scope."
    whole = resolver.resolve(Citation(kind="document", doc_id="doc:g"))
    assert whole is not None and whole.unit_key is None and whole.text == "" and whole.doc_title == "Guide"
    assert resolver.resolve(Citation(kind="document", doc_id="doc:g", section="Part 9")) is None


def test_a_judgment_wins_over_its_corrigendum(resolver: InMemoryResolver) -> None:
    hit = resolver.resolve(jud("[2025] HKCFI 7", 1))
    assert hit is not None and hit.doc_key == "judgment:[2025] HKCFI 7" and hit.text == "First."


def test_language_falls_back_to_what_is_stored(resolver: InMemoryResolver) -> None:
    hit = resolver.resolve(jud("[2025] HKDC 9", 2, "en"))  # only a Chinese judgment exists
    assert hit is not None and hit.lang == ZH and hit.text == "第二段。"


@pytest.mark.parametrize(
    ("text", "statuses"),
    [
        ("See (doc:g § Part 1 > Scope); [doc:g § Part 9]; doc:nope.", ["resolved", "not_found", "outside_kb"]),
        ("[2025] HKCFI 7 at [2] and [2025] HKCFI 7 at [3]", ["resolved", "not_found"]),
        ("[2025] HKDC 9，第1段", ["resolved"]),
        ("[2025] HKCFI 7 at [2] provides: “Second.”", ["resolved"]),
        ("[2025] HKCFI 7 at [2] provides: “First.”", ["quote_mismatch"]),
    ],
)
def test_verify_documents_and_judgments(resolver: InMemoryResolver, text: str, statuses: list[str]) -> None:
    report = verify_citations(text, resolver, today=date(2026, 1, 1))
    assert [c.status for c in report.checks] == statuses
    assert len(report.resolved) == statuses.count("resolved")
    assert report.by_status("not_found") == [c for c in report.checks if c.status == "not_found"]
    for check in report.checks:
        d = check.to_dict()
        assert d["status"] == check.status and text[d["start"]:d["end"]] == d["text"]
        assert (d["source"] is None) is (check.source is None)


@pytest.mark.parametrize(
    "nc",
    ["[1839] HKCFA 1", "[2027] HKCFA 1", "[2025] HKCFI 0", "[2025] HKXYZ 1", "2025 HKCFI 1"],
)
def test_impossible_neutral_citations_are_invalid(resolver: InMemoryResolver, nc: str) -> None:
    check = verify_citation(Citation(kind="judgment", neutral_citation=nc), resolver, today=date(2026, 1, 1))
    assert check.status == "invalid" and not check.ok and "cannot exist" in check.detail


def test_cite_without_resolver_or_for_english_never_looks_up() -> None:
    class Exploding:
        def resolve(self, citation: Citation, *, version_date: date | None = None) -> None:
            raise AssertionError("looked up")

    assert cite(leg("486", "18"), "en", Exploding()) == "Cap. 486 s. 18"  # type: ignore[arg-type]
    assert cite(leg("486", "18"), ZH, None) == "第486章第18條"
