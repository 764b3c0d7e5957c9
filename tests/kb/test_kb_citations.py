"""Citations: table-driven parsing (English and Chinese), formatting, finding, verifying."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from hkllm.kb.citations import (
    CitationParseError,
    CitationResolver,
    InMemoryResolver,
    cite,
    find_citations,
    format_citation,
    parse_citation,
    quote_matches,
    verify_citation,
    verify_citations,
)
from hkllm.kb.ingest import IngestError, parse_path
from hkllm.kb.ingest.hklm_xml import align_bilingual
from hkllm.kb.types import Citation

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
needs_data = pytest.mark.skipif(not (DATA / "hk-legislation").exists() or not (DATA / "hk-judgments-sample").exists(),
                                reason="../shared/data absent")


def L(cap, sec=None, sub=(), sch=None, lang="en"):  # noqa: N802 - table shorthand
    return Citation(kind="legislation", cap=cap, section=sec, subsection=tuple(sub), schedule=sch, lang=lang)


def J(nc, para=None, lang=None):  # noqa: N802
    return Citation(kind="judgment", neutral_citation=nc, paragraph=para, lang=lang)


ZH = "zh-Hant"
PARSE_TABLE = [
    # English legislation
    ("Cap. 486 s. 18(1)(a)", L("486", "18", ("1", "a"))),
    ("Cap 486 s 18(1)(a)", L("486", "18", ("1", "a"))),
    ("Cap.486 s.18(1)(a)", L("486", "18", ("1", "a"))),
    ("Cap. 486, s. 18", L("486", "18")),
    ("Cap. 486, section 18(1)", L("486", "18", ("1",))),
    ("Chapter 486 section 35E", L("486", "35E")),
    ("Cap. 486 Sch. 1 s. 4", L("486", "4", sch="1")),
    ("Cap. 486, Schedule 1, section 4(2)", L("486", "4", ("2",), "1")),
    ("Cap. 486 Sch. 1", L("486", sch="1")),
    ("Cap. 486", L("486")),
    ("Cap. 32A s. 5", L("32A", "5")),
    ("Cap. 1 s. 3", L("1", "3")),
    ("s. 18(1)(a) of Cap. 486", L("486", "18", ("1", "a"))),
    ("ss. 64 of Cap. 486", L("486", "64")),
    ("section 18 of the Personal Data (Privacy) Ordinance (Cap. 486)", L("486", "18")),
    ("section 4(1)(a) of the Dangerous Drugs Ordinance, Cap 134", L("134", "4", ("1", "a"))),
    ("section 66(1)(b)(ii) of Cap. 486", L("486", "66", ("1", "b", "ii"))),
    ("section 4 of Schedule 1 to Cap. 486", L("486", "4", sch="1")),
    ("s. 4 of Sch. 1 to the Personal Data (Privacy) Ordinance (Cap. 486)", L("486", "4", sch="1")),
    ("Schedule 1 to Cap. 486", L("486", sch="1")),
    ("Personal Data (Privacy) Ordinance (Cap. 486), s. 18", L("486", "18")),
    ("Personal Data (Privacy) Ordinance (Cap. 486)", L("486")),
    ("Personal Data (Privacy) Ordinance (Cap. 486) s. 18(1)(a)", L("486", "18", ("1", "a"))),
    ("DPP 4", L("486", "4", sch="1")),
    ("DPP1(3)", L("486", "1", ("3",), "1")),
    ("data protection principle 4(1)", L("486", "4", ("1",), "1")),
    ("Cap. 486 s. 999", L("486", "999")),
    ("Cap. 486 s. 18(1A)", L("486", "18", ("1A",))),
    # Chinese legislation
    ("《個人資料(私隱)條例》(第486章)第18(1)(a)條", L("486", "18", ("1", "a"), lang=ZH)),
    ("《個人資料(私隱)條例》（第486章）第18（1）（a）條", L("486", "18", ("1", "a"), lang=ZH)),
    ("第486章第18(1)(a)條", L("486", "18", ("1", "a"), lang=ZH)),
    ("第４８６章第１８條", L("486", "18", lang=ZH)),
    ("香港法例第486章第18條", L("486", "18", lang=ZH)),
    ("第486章《個人資料(私隱)條例》第18條", L("486", "18", lang=ZH)),
    ("香港法例第134章《危險藥物條例》第4(1)(a)條", L("134", "4", ("1", "a"), lang=ZH)),
    ("第486章第18條第(1)款(a)段", L("486", "18", ("1", "a"), lang=ZH)),
    ("第486章第18條第(1)款第(a)段第(ii)節", L("486", "18", ("1", "a", "ii"), lang=ZH)),
    ("第486章附表1第4條", L("486", "4", sch="1", lang=ZH)),
    ("《個人資料(私隱)條例》(第486章)附表1第4條", L("486", "4", sch="1", lang=ZH)),
    ("第486章附表1", L("486", sch="1", lang=ZH)),
    ("第486章", L("486", lang=ZH)),
    ("《個人資料(私隱)條例》(第486章)", L("486", lang=ZH)),
    ("第32A章第5條", L("32A", "5", lang=ZH)),
    ("第486章第88Z條", L("486", "88Z", lang=ZH)),
    ("第134章第8(1)(a)", L("134", "8", ("1", "a"), lang=ZH)),
    ("第3保障資料原則", L("486", "3", sch="1", lang=ZH)),
    # judgments
    ("[2025] HKCFI 4195", J("[2025] HKCFI 4195")),
    ("[2025] HKCFI 4195 at [12]", J("[2025] HKCFI 4195", 12)),
    ("[2025] HKCFI 4195, at [12]", J("[2025] HKCFI 4195", 12)),
    ("[2025] HKCFI 4195 at [12]-[14]", J("[2025] HKCFI 4195", 12)),
    ("[2025] HKCFI 4195 at para 12", J("[2025] HKCFI 4195", 12)),
    ("[2025] HKCFI 4195, para. 12", J("[2025] HKCFI 4195", 12)),
    ("[2025] HKCFI 4195 §12", J("[2025] HKCFI 4195", 12)),
    ("[2025] HKCFI 4195，第12段", J("[2025] HKCFI 4195", 12, ZH)),
    ("[2025] HKCFI 4195（第12段）", J("[2025] HKCFI 4195", 12, ZH)),
    ("［2025］ HKCFI 4195", J("[2025] HKCFI 4195")),
    ("[2025]HKCFI 4195", J("[2025] HKCFI 4195")),
    ("2024] HKCA 150", J("[2024] HKCA 150")),
    ("[2031] HKCFA 99", J("[2031] HKCFA 99")),
    ("[2019] HKCFA 7", J("[2019] HKCFA 7")),
    ("[2025] HKDC 600", J("[2025] HKDC 600")),
    ("[2020] HKMagC 3", J("[2020] HKMagC 3")),
    # documents
    ("doc:privacy-guide", Citation(kind="document", doc_id="doc:privacy-guide")),
    ("doc:privacy-guide § Guide > Scope", Citation(kind="document", doc_id="doc:privacy-guide", section="Guide > Scope")),
]


def test_table_is_large_and_bilingual():
    zh = [s for s, _ in PARSE_TABLE if any("\u4e00" <= ch <= "\u9fff" for ch in s)]
    assert len(PARSE_TABLE) >= 40 and len(zh) >= 15


@pytest.mark.parametrize("text,expected", PARSE_TABLE, ids=[s for s, _ in PARSE_TABLE])
def test_parse_citation(text, expected):
    assert parse_citation(text) == expected


@pytest.mark.parametrize("text,expected", PARSE_TABLE, ids=[s for s, _ in PARSE_TABLE])
def test_format_then_parse_round_trip(text, expected):
    for lang in ("en", ZH):
        formatted = format_citation(expected, lang, title="個人資料(私隱)條例" if lang == ZH and expected.cap == "486"
                                    else None)
        back = parse_citation(formatted)
        assert (back.kind, back.cap, back.section, back.subsection, back.schedule, back.neutral_citation,
                back.paragraph, back.doc_id) == (expected.kind, expected.cap, expected.section, expected.subsection,
                                                  expected.schedule, expected.neutral_citation, expected.paragraph,
                                                  expected.doc_id), formatted


@pytest.mark.parametrize(
    "citation,lang,title,expected",
    [
        (L("486", "18", ("1", "a")), "en", None, "Cap. 486 s. 18(1)(a)"),
        (L("486", "18", ("1", "a")), ZH, "個人資料(私隱)條例", "《個人資料(私隱)條例》(第486章)第18(1)(a)條"),
        (L("486", "18", ("1", "a")), ZH, "《個人資料(私隱)條例》", "《個人資料(私隱)條例》(第486章)第18(1)(a)條"),
        (L("486", "18", ("1", "a")), ZH, None, "第486章第18(1)(a)條"),
        (L("486", "4", sch="1"), "en", None, "Cap. 486 Sch. 1 s. 4"),
        (L("486", "4", sch="1"), ZH, None, "第486章附表1第4條"),
        (L("486", sch="1"), "en", None, "Cap. 486 Sch. 1"),
        (L("486"), "en", "Personal Data (Privacy) Ordinance", "Personal Data (Privacy) Ordinance (Cap. 486)"),
        (L("32A", "5"), "en", None, "Cap. 32A s. 5"),
        (J("[2025] HKCFI 4195", 12), "en", None, "[2025] HKCFI 4195 at [12]"),
        (J("[2025] HKCFI 4195", 12), ZH, None, "[2025] HKCFI 4195，第12段"),
        (J("[2025] HKCFI 4195"), "en", None, "[2025] HKCFI 4195"),
        (Citation(kind="document", doc_id="doc:g", section="A > B"), "en", None, "doc:g § A > B"),
    ],
)
def test_format_citation(citation, lang, title, expected):
    assert format_citation(citation, lang, title=title) == expected


@pytest.mark.parametrize("text", ["", "hello", "section 18", "Cap. 486 and more words", "[2025] HKCFI", "第章第條",
                                  "s. 18 of the Unknown Ordinance"])
def test_parse_rejects_non_citations(text):
    with pytest.raises(CitationParseError):
        parse_citation(text)


def test_title_only_citations_need_a_title_index():
    """A title with no chapter number resolves through the index (the knowledge base's titles) or the
    short-title data file; a title in neither is not a citation."""
    titles = {"危險藥物條例": "134", "dangerousdrugsordinance": "134"}
    assert parse_citation("《危險藥物條例》第4條", titles=titles) == L("134", "4", lang=ZH)
    assert parse_citation("s. 4 of the Dangerous Drugs Ordinance", titles=titles) == L("134", "4")
    with pytest.raises(CitationParseError):
        parse_citation("《危險藥物條例》第4條")
    assert parse_citation("《個人資料(私隱)條例》第18條") == L("486", "18", lang=ZH)  # in short_titles.tsv


@pytest.mark.parametrize(("text", "cap", "section", "sub"), [
    ("PDPO s 35C", "486", "35C", ()),
    ("PDPO s. 35C(2)", "486", "35C", ("2",)),
    ("PDPO, section 18", "486", "18", ()),
    ("s. 35C of the PDPO", "486", "35C", ()),
    ("section 9 of the Employment Ordinance", "57", "9", ()),
    ("EO s. 31B", "57", "31B", ()),
    ("s. 6 of the LTO", "7", "6", ()),
    ("RTO s. 39", "374", "39", ()),
    ("《私隱條例》第35C條", "486", "35C", ()),
    ("《僱傭條例》第31B條", "57", "31B", ()),
    ("《強積金條例》第7A條", "485", "7A", ()),
])
def test_short_titles_and_abbreviations_from_the_data_file(text, cap, section, sub):
    c = parse_citation(text)
    assert (c.cap, c.section, c.subsection) == (cap, section, sub)


@pytest.mark.parametrize("text", ["IT s 5", "ABC s. 3", "Pdpo s 35C", "the PDPO"])
def test_unknown_or_miscased_abbreviations_are_not_citations(text):
    with pytest.raises(CitationParseError):
        parse_citation(text)


def test_abbreviation_in_running_text():
    found = find_citations("Under the PDPO s 35C and 《私隱條例》第18條, the RTO s. 39 says")
    assert [(f.citation.cap, f.citation.section, f.title) for f in found] == [
        ("486", "35C", "PDPO"), ("486", "18", "私隱條例"), ("374", "39", "RTO")]


def test_find_citations_in_running_text():
    text = ("The applicant relied on section 4(1)(a) and (3) of the Dangerous Drugs Ordinance, Cap 134, and on "
            "HKSAR v Lee Ming Ho [2024] HKCA 150 at [23]; 見第486章第18(1)(a)條及[2025] HKCFI 4195，第12段。")
    found = find_citations(text)
    assert [f.citation for f in found] == [
        L("134", "4", ("1", "a")), L("134", "4", ("3",)), J("[2024] HKCA 150", 23),
        L("486", "18", ("1", "a"), lang=ZH), J("[2025] HKCFI 4195", 12, ZH)]
    assert [text[f.start:f.end] for f in found] == [f.text for f in found]
    assert found[0].text == "section 4(1)(a) and (3) of the Dangerous Drugs Ordinance, Cap 134"
    assert found[0].title == "Dangerous Drugs Ordinance"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("最新案例HKSAR v Lee Ming Ho(李名豪) [2024] HKCA 150中六個步驟", [J("[2024] HKCA 150")]),
        ("違反香港法例第134章《危險藥物條例》第8(1)(a)及(2)（控罪二）", [L("134", "8", ("1", "a"), lang=ZH),
                                                            L("134", "8", ("2",), lang=ZH)]),
        ("見Cap. 486 s. 18的規定", [L("486", "18")]),
        ("案2024] HKCA 150及[2025] HKCA 234", [J("[2024] HKCA 150"), J("[2025] HKCA 234")]),
        ("HCCC 66/2025 and 20240] HKCA 1 and [2025] HKCFI", []),
        ("the Commissioner's 18 reports and items 4 of 5", []),
        ("[2020] HKCA 1 at [2021] HKCFA 2 at [3]", [J("[2020] HKCA 1"), J("[2021] HKCFA 2", 3)]),
    ],
)
def test_find_citations_next_to_chinese_and_non_citations(text, expected):
    assert [f.citation for f in find_citations(text)] == expected


@pytest.mark.parametrize(
    "text,quote",
    [
        ('Cap. 486 s. 18 provides: "a data access request".', "a data access request"),
        ("Cap. 486 s. 18 states that “a data access request”.", "a data access request"),
        ("第486章第18條規定：「查閱資料要求」。", "查閱資料要求"),
        ("“a data access request” (Cap. 486 s. 18)", "a data access request"),
        ("Cap. 486 s. 18 applies to “the Flat”.", None),
    ],
)
def test_quote_attached_to_citation(text, quote):
    (found,) = find_citations(text)
    assert found.quote == quote


@pytest.mark.parametrize(
    "quote,source,ok",
    [
        ("a data access request", "make a\n data access   request under", True),
        ("A Data Access Request", "a data access request", True),
        ("individual may … a request", "individual may make a request", True),
        ("「查閱資料要求」", "提出查閱資料要求", True),
        ("查閱資料 要求", "查閱資料要求", True),
        ("a data deletion request", "a data access request", False),
        ("request ... individual", "individual may make a request", False),
    ],
)
def test_quote_matches(quote, source, ok):
    assert quote_matches(quote, source) is ok


# ---------------------------------------------------------------- verifier on synthetic sources (no data needed)

MINI = Path(__file__).with_name("test_kb_hklm_xml.py")


@pytest.fixture(scope="module")
def mini_resolver():
    import importlib.util

    from hkllm.kb.ingest.hklm_xml import parse_hklm_xml
    from hkllm.kb.ingest.judgments import parse_judgment_text

    spec = importlib.util.spec_from_file_location("hklm_fixture", MINI)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    old = parse_hklm_xml(mod.mini("en", "2020-01-01").replace(b"unless excused.", b"unless old."), source_path="o")
    new = parse_hklm_xml(mod.mini("en", "2024-01-31"), source_path="n")
    zh = parse_hklm_xml(mod.mini("zh-Hant-HK", "2024-01-31"), source_path="z")
    judgment = parse_judgment_text("[2024] HKCFI 9\n\nIN THE HIGH COURT\n\n1. First.\n\n2. Second paragraph.",
                                   source_path="j.txt")
    return InMemoryResolver([old, new, zh, judgment])


def test_in_memory_resolver_protocol_and_versions(mini_resolver):
    assert isinstance(mini_resolver, CitationResolver)
    newest = mini_resolver.resolve(L("999", "2A"))
    assert newest.unit_key == "s2A" and "unless excused." in newest.text and newest.version_date == date(2024, 1, 31)
    older = mini_resolver.resolve(L("999", "2A"), version_date=date(2021, 6, 1))
    assert "unless old." in older.text and older.version_date == date(2020, 1, 1)
    assert mini_resolver.resolve(L("999", "2A"), version_date=date(2019, 1, 1)) is None
    assert mini_resolver.resolve(L("999", "2A", lang=ZH)).lang == "zh-Hant"
    assert mini_resolver.resolve(L("999", sch="1")).text == "Fill in."
    assert mini_resolver.resolve(J("[2024] HKCFI 9", 2)).text == "Second paragraph."
    assert mini_resolver.resolve(J("[2024] HKCFI 9", 3)) is None
    assert mini_resolver.resolve(L("1")) is None


@pytest.mark.parametrize(
    "text,status",
    [
        ("Cap. 999 s. 2A", "resolved"),
        ("Cap. 999 s. 2A(1)(b)(ii)", "resolved"),
        ("Cap. 999 s. 2A(3)", "not_found"),
        ("Cap. 999 s. 77", "not_found"),
        ("第999章第77條", "not_found"),
        ("Cap. 999 Sch. 1 s. 1", "resolved"),
        ("Cap. 999 Sch. 2", "not_found"),
        ("Cap. 1 s. 1", "outside_kb"),
        ("[2024] HKCFI 9 at [2]", "resolved"),
        ("[2024] HKCFI 9 at [3]", "not_found"),
        ("[2023] HKCA 1", "outside_kb"),
        ("[2031] HKCFA 99", "invalid"),
        ("[2024] HKCFI 9 at [0]", "invalid"),
        ("Cap. 999 s. 2A provides: “A person must—”", "resolved"),
        ("Cap. 999 s. 2A provides: “A person may”", "quote_mismatch"),
        ("《測試條例》(第999章)第2A條", "title_mismatch"),
        ("《Test Ordinance》(第999章)第2A條", "resolved"),
    ],
)
def test_verify_statuses(mini_resolver, text, status):
    report = verify_citations(text, mini_resolver, today=date(2026, 1, 1))
    assert [c.status for c in report.checks] == [status]
    assert report.ok is (status == "resolved")
    assert (report.unresolved == []) is (status == "resolved")


def test_verify_citation_object_and_report_dict(mini_resolver):
    check = verify_citation(L("999", "77"), mini_resolver)
    assert not check.ok and check.status == "not_found" and "does not exist" in check.detail
    assert check.to_dict()["citation"]["section"] == "77"


def test_cite_uses_chinese_title_from_resolver(mini_resolver):
    assert cite(L("999", "2A"), ZH, mini_resolver) == "《Test Ordinance》(第999章)第2A條"  # zh mini has en title
    assert cite(L("1", "2"), ZH, mini_resolver) == "第1章第2條"


# ---------------------------------------------------------------- verifier on the real knowledge base


@pytest.fixture(scope="module")
def kb():
    docs = [r for p in (DATA / "hk-legislation", DATA / "hk-judgments-sample" / "html") for r in parse_path(p)]
    assert not [r for r in docs if isinstance(r, IngestError)]
    align_bilingual(docs)
    return docs, InMemoryResolver(docs)


@needs_data
def test_cite_cap486_in_chinese(kb):
    _, resolver = kb
    assert cite(L("486", "18", ("1", "a")), ZH, resolver) == "《個人資料(私隱)條例》(第486章)第18(1)(a)條"
    assert cite(L("486", "4", sch="1"), ZH, resolver) == "《個人資料(私隱)條例》(第486章)附表1第4條"


@needs_data
def test_every_neutral_citation_in_the_sample_resolves_or_is_outside_kb(kb):
    import json

    docs, resolver = kb
    in_kb = {d.meta["neutral_citation"] for d in docs if d.kind == "judgment"}
    lines = (DATA / "hk-judgments-sample" / "judgments.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(ln) for ln in lines if ln.strip()]
    seen: set[str] = set()
    for rec in records:
        for check in verify_citations(rec["text"], resolver).checks:
            c = check.found.citation
            if c.kind != "judgment":
                continue
            seen.add(c.neutral_citation)
            expected = "resolved" if c.neutral_citation in in_kb else "outside_kb"
            assert check.status == expected, check
    in_text = {nc for rec in records for nc in rec["citations_in_text"]}
    assert in_text | {"[2024] HKCA 150"} == seen
    assert in_kb < seen and {"[2025] HKCA 234", "[2024] HKCA 150"} <= seen


@needs_data
def test_fabricated_citations_are_flagged(kb):
    _, resolver = kb
    answer = ("Under Cap. 486 s. 18(1)(a) a request may be made; see also Cap. 486 s. 999, [2031] HKCFA 99, "
              "第486章第88Z條 and [2025] HKCA 943 at [3]. 《個人資料(私隱)條例》(第486章)第18(1)(a)條規定："
              "「要求資料使用者告知他該使用者是否持有該名個人屬其資料當事人的個人資料」。"
              "Cap. 486 Sch. 1 s. 4 provides: “All practicable steps shall be taken to ensure that any personal data”.")
    report = verify_citations(answer, resolver)
    status = {c.found.text: c.status for c in report.checks}
    assert status == {
        "Cap. 486 s. 18(1)(a)": "resolved",
        "Cap. 486 s. 999": "not_found",
        "[2031] HKCFA 99": "invalid",
        "第486章第88Z條": "not_found",
        "[2025] HKCA 943 at [3]": "resolved",
        "《個人資料(私隱)條例》(第486章)第18(1)(a)條": "resolved",
        "Cap. 486 Sch. 1 s. 4": "resolved",
    }
    assert {c.found.text for c in report.unresolved} == {"Cap. 486 s. 999", "[2031] HKCFA 99", "第486章第88Z條"}


@needs_data
def test_legislation_cited_in_judgments_is_outside_kb_unless_cap486(kb):
    docs, resolver = kb
    judgment = next(d for d in docs if d.key == "judgment:[2025] HKDC 1339")
    checks = verify_citations("\n".join(u.text for u in judgment.units), resolver).checks
    caps = {(c.found.citation.cap, c.status) for c in checks if c.found.citation.kind == "legislation"}
    assert caps == {("134", "outside_kb"), ("374", "outside_kb")}
