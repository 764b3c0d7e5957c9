"""Judgment parsing without the shared sample: a synthetic Judiciary LRS page (UTF-8 and Big5), Chinese and
English text judgments, JSONL hints, cited authorities (neutral, reported, action numbers such as
``HCAL 123/2024``), pinpoints, dates and languages."""

from __future__ import annotations

import json
from datetime import date

import pytest

from hkllm.kb.ingest import EmptySource, IngestError, MalformedSource, SourceEncodingError
from hkllm.kb.ingest.judgments import (
    clean,
    extract_authorities,
    find_case_citations,
    parse_date,
    parse_judgment_html,
    parse_judgment_text,
    parse_judgments_jsonl,
    pinpoint_after,
)
from hkllm.kb.types import Citation, Unit

LRS = """<html><head><meta http-equiv="Content-Type" content="text/html; charset={charset}" />
<title>HCAL123/2024 CHAN TAI MAN v. SECRETARY FOR JUSTICE</title><script>var x = "1. not a paragraph";</script></head>
<body><p style="text-align:right">HCAL 123/2024, [2025] HKCFI 4195</p>
<p style="text-align:center"><b>IN THE HIGH COURT OF THE</b></p>
<p style="text-align:center">COURT OF FIRST INSTANCE</p>
<p style="text-align:center">CONSTITUTIONAL AND ADMINISTRATIVE LAW LIST NO 123 OF 2024</p>
<p style="text-align:center">________________________</p>
<parties><table>
<tr><td colspan="3"><p>BETWEEN</p></td></tr>
<tr><td>&nbsp;</td><td>陳大文 Chan Tai Man</td><td>Applicant</td></tr>
<tr><td>&nbsp;</td><td>and</td><td>&nbsp;</td></tr>
<tr><td>&nbsp;</td><td>Secretary for Justice</td><td>Respondent</td></tr>
</table></parties>
<p style="text-align:center">________________________</p>
<coram><table><tr><td>Before: </td><td>Hon Lee J in Court</td></tr></table></coram>
<date><table><tr><td>Date of Hearing: </td><td>2 June 2025</td></tr>
<tr><td>Date of Judgment: </td><td>30 June 2025</td></tr></table></date>
<p style="text-align:center">________________________</p>
<p style="text-align:center">J U D G M E N T</p>
<p style="text-align:center">________________________</p>
<p class="heading">Introduction</p>
<p><a name="p1" class="para" id="p1">1.</a>&nbsp;&nbsp;The applicant, who lives in 荃灣, challenges a decision under section 18
of the Personal Data (Privacy) Ordinance, Cap 486.</p>
<p>(a) first point;<br/>(b) second point.</p>
<p><a name="p2" class="para" id="p2">2.</a>&nbsp;&nbsp;As held in HKSAR v Wong [2020] HKCA 5 at [7], and in Re Lo Kin Man \
HCAL 9/2019, the test is strict.<a href="#_ftn1" name="_ftnref1">[1]</a></p>
<p class="heading">Disposition</p>
<p><a name="p3" class="para" id="p3">3.</a>&nbsp;&nbsp;The application is dismissed.</p>
<table><tr><td>&nbsp;</td><td style="text-align:center">(Lee Siu Ming)<br/>Judge of the Court of First Instance</td></tr></table>
<representation><p>Mr A, for the Applicant</p></representation>
<div><hr/><p><a href="#_ftnref1" name="_ftn1">[1]</a>&nbsp;&nbsp;See also (2021) 24 HKCFAR 1 at [33].</p></div>
</body></html>"""


def lrs(charset: str = "utf-8") -> bytes:
    text = LRS.format(charset=charset)
    return text.encode("big5hkscs" if charset == "big5" else "utf-8")


@pytest.fixture(scope="module")
def page():  # noqa: ANN201
    return parse_judgment_html(lrs(), source_path="HCAL123_2024.htm")


def test_lrs_header(page) -> None:  # noqa: ANN001
    assert page.key == "judgment:[2025] HKCFI 4195" and page.kind == "judgment" and page.lang == "en"
    assert page.title == "HCAL123/2024 CHAN TAI MAN v. SECRETARY FOR JUSTICE"
    assert page.version_date == date(2025, 6, 30)  # the judgment date, not the hearing date
    meta = page.meta
    assert (meta["neutral_citation"], meta["court"], meta["court_name_zh"]) == ("[2025] HKCFI 4195", "HKCFI", "高等法院原訟法庭")
    assert meta["case_numbers"] == ["HCAL 123/2024"]
    assert meta["parties"] == [{"name": "陳大文 Chan Tai Man", "role": "Applicant"},
                               {"name": "Secretary for Justice", "role": "Respondent"}]
    assert meta["coram"] == ["Hon Lee J in Court"] and meta["representation"] == ["Mr A, for the Applicant"]
    assert meta["dates"] == {"Date of Hearing": "2025-06-02", "Date of Judgment": "2025-06-30"}
    assert meta["document_title"] == "J U D G M E N T" and meta["document_type"] == "judgment"
    assert len(page.content_sha256) == 64


def test_lrs_units(page) -> None:  # noqa: ANN001
    units = {u.key: u for u in page.units}
    assert list(units) == ["para1", "para2", "para3", "closing", "fn1"]
    assert units["para1"].heading == "Introduction" and units["para3"].heading == "Disposition"
    assert units["para1"].text.endswith("(a) first point;\n(b) second point.")  # the list stays with paragraph 1
    assert "not a paragraph" not in " ".join(u.text for u in page.units)  # scripts are dropped
    assert units["closing"].text == "(Lee Siu Ming)\nJudge of the Court of First Instance"
    assert units["fn1"].meta == {"footnote": 1} and units["fn1"].heading == "Footnote 1"
    assert [u.citation for u in page.units if u.citation.paragraph] == [
        Citation(kind="judgment", neutral_citation="[2025] HKCFI 4195", paragraph=n, lang="en") for n in (1, 2, 3)]
    assert [u.ordinal for u in page.units] == list(range(5))
    assert page.meta["paragraph_count"] == 3 and page.meta["footnote_count"] == 1


def test_lrs_authorities(page) -> None:  # noqa: ANN001
    by_id = {a["neutral_citation"] or a["report_citation"] or a["action_number"]: a for a in page.meta["cited_authorities"]}
    assert set(by_id) == {"[2020] HKCA 5", "HCAL 9/2019", "(2021) 24 HKCFAR 1"}
    assert by_id["[2020] HKCA 5"]["case_name"] == "HKSAR v Wong" and by_id["[2020] HKCA 5"]["paragraphs"] == [7]
    assert by_id["HCAL 9/2019"]["case_name"] == "Re Lo Kin Man" and by_id["HCAL 9/2019"]["cited_in"] == ["para2"]
    assert by_id["(2021) 24 HKCFAR 1"]["cited_in"] == ["fn1"] and by_id["(2021) 24 HKCFAR 1"]["paragraphs"] == [33]
    assert page.meta["cited_neutral_citations"] == ["[2020] HKCA 5"]  # its own citation and case number excluded


def test_big5_page_reads_the_same(page) -> None:  # noqa: ANN001
    big5 = parse_judgment_html(lrs("big5"), source_path="big5.htm")
    assert [(u.key, u.text) for u in big5.units] == [(u.key, u.text) for u in page.units]
    assert big5.meta["parties"] == page.meta["parties"]
    assert big5.content_sha256 != page.content_sha256  # the hash is of the bytes as stored


def test_undecodable_page_is_a_typed_error() -> None:
    data = lrs().replace("荃灣".encode(), b"\xff\xfe\xfa")
    with pytest.raises(SourceEncodingError) as info:
        parse_judgment_html(data, source_path="bad.htm")
    assert info.value.path == "bad.htm" and isinstance(info.value, IngestError)


# ---------------------------------------------------------------- text judgments

ZH_JUDGMENT = (
    "DCCC 100/2024\n\n[2025] HKDC 77\n\n香港特別行政區區域法院\n\n刑事案件2024年第100號\n\n______\n\n香港特別行政區\n\n訴\n\n"
    "陳大文\n\n第一被告人\n\n______\n\n主審法官：區域法院法官李小明\n\n判刑日期：2025年3月4日\n\n______\n\n判刑理由書\n\n______\n\n"
    "引言\n\n1. 被告人承認一項販運危險藥物罪，違反香港法例第134章《危險藥物條例》第4(1)(a)條。\n\n"
    "2. 正如上訴庭在香港特別行政區 訴 王俊軒 [2019] HKCA 5，第12段所說，量刑須考慮毒品份量。\n\n（ 李小明 ）\n\n區域法院法官"
)


def test_chinese_text_judgment() -> None:
    doc = parse_judgment_text(ZH_JUDGMENT, source_path="zh.txt")
    assert (doc.key, doc.lang, doc.version_date) == ("judgment:[2025] HKDC 77", "zh-Hant", date(2025, 3, 4))
    meta = doc.meta
    assert meta["court_name_zh"] == "區域法院" and meta["case_numbers"] == ["DCCC 100/2024"]
    assert meta["parties"] == [{"name": "香港特別行政區", "role": None}, {"name": "陳大文", "role": "第一被告人"}]
    assert meta["coram"] == ["區域法院法官李小明"] and meta["dates"] == {"判刑日期": "2025-03-04"}
    assert meta["document_title"] == "判刑理由書"
    assert [(u.key, u.heading) for u in doc.units] == [("para1", "引言"), ("para2", "引言"), ("closing", "")]
    (auth,) = meta["cited_authorities"]
    assert (auth["neutral_citation"], auth["case_name"], auth["paragraphs"]) == ("[2019] HKCA 5", "香港特別行政區 訴 王俊軒", [12])


CORRIGENDUM = ("HCCC 1/2024\n\n[2024] HKCFI 9\n\nIN THE HIGH COURT\n\n______\n\nHKSAR\n\nv\n\nChan\n\n______\n\n"
               "Before: Hon Lee J\n\nDate: 3 May 2024\n\n______\n\nCORRIGENDUM\n\n______\n\n"
               "1. In paragraph 2, for 'Chan' read 'Chen'.")


def test_corrigendum_has_its_own_key() -> None:
    doc = parse_judgment_text(CORRIGENDUM, source_path="c.txt")
    assert doc.key == "judgment:[2024] HKCFI 9:corrigendum"
    assert doc.meta["document_type"] == "corrigendum" and doc.meta["neutral_citation"] == "[2024] HKCFI 9"


def test_a_repeated_paragraph_number_stays_with_its_paragraph() -> None:
    doc = parse_judgment_text("HCCC 1/2024\n\n[2024] HKCFI 9\n\nIN THE HIGH COURT\n\n1. One.\n\n2. Two.\n\n2. Two again."
                              "\n\n3. Three.", source_path="d.txt")
    paras = {u.key: u.text for u in doc.units if u.citation.paragraph}
    assert paras == {"para1": "One.", "para2": "Two.\n2. Two again.", "para3": "Three."}


def test_unnumbered_transcript_gets_blocks_that_no_pinpoint_resolves_to() -> None:
    doc = parse_judgment_text("HCMA 5/2024\n\n[2024] HKCFI 10\n\nIN THE HIGH COURT\n\nCOURT: The appellant appears in "
                              "person.\n\nSENTENCE\n\nThe appeal is dismissed.\n\nCosts follow the event.",
                              source_path="b.txt")
    assert doc.meta["numbered_paragraphs"] is False and doc.meta["paragraph_count"] == 0
    blocks = [u for u in doc.units if u.key.startswith("block")]
    assert [u.key for u in blocks] == [f"block{i}" for i in range(1, len(blocks) + 1)]
    assert all(u.citation.paragraph is None for u in doc.units)
    assert [u.text for u in blocks if u.heading == "SENTENCE"] == ["The appeal is dismissed.", "Costs follow the event."]


def test_a_case_number_alone_identifies_the_judgment() -> None:
    doc = parse_judgment_text("HCMA 5/2024\n\nIN THE HIGH COURT\n\n1. Only a case number.", source_path="n.txt")
    assert doc.key == "judgment:HCMA 5/2024" and doc.meta["neutral_citation"] is None
    assert doc.meta["court"] == "HKCFI"  # from the HCMA prefix
    assert {(u.citation.neutral_citation, u.citation.doc_id) for u in doc.units} == {(None, "judgment:HCMA 5/2024")}


def test_hints_override_what_the_text_says() -> None:
    text = "HCCC 1/2024\n\n[2024] HKCFI 9\n\nIN THE HIGH COURT\n\n1. Body."
    doc = parse_judgment_text(text, source_path="h.txt", hints={"neutral_citation": "[2024] HKCFI 99", "title": "T",
                                                               "language": "zh-Hant"})
    assert (doc.key, doc.title, doc.lang) == ("judgment:[2024] HKCFI 99", "T", "zh-Hant")
    ignored = parse_judgment_text(text, source_path="h.txt", hints={"language": "klingon"})
    assert ignored.lang == "en"  # only en / zh-Hant are taken from a hint


@pytest.mark.parametrize("text", ["", "  \n\t\n ", "\n\n\n"])
def test_empty_text_is_an_empty_source(text: str) -> None:
    with pytest.raises(EmptySource, match="judgment text is empty"):
        parse_judgment_text(text, source_path="e.txt")


def test_jsonl_hints_and_source_file() -> None:
    rec = {"text": "HCCC 1/2024\n\n[2024] HKCFI 9\n\nIN THE HIGH COURT\n\n1. Body.", "file": "html/x.htm",
           "language": "en", "title": "HKSAR v Chan"}
    (doc,) = list(parse_judgments_jsonl((json.dumps(rec, ensure_ascii=False) + "\n").encode(), source_path="j.jsonl"))
    assert doc.meta["source_file"] == "html/x.htm" and doc.title == "HKSAR v Chan"
    assert doc.source_path == "j.jsonl#L1"


def test_jsonl_in_big5_is_decoded_as_big5_hkscs() -> None:
    text = "HCCC 1/2024\n\n[2024] HKCFI 9\n\n香港特別行政區高等法院\n\n1. 被告人在荃灣認罪。"
    data = (json.dumps({"text": text}, ensure_ascii=False) + "\n").encode("big5hkscs")
    (doc,) = list(parse_judgments_jsonl(data, source_path="j.jsonl"))
    assert not isinstance(doc, IngestError)
    assert doc.lang == "zh-Hant" and doc.units[-1].text == "被告人在荃灣認罪。"


def test_jsonl_that_is_not_text_is_an_encoding_error() -> None:
    with pytest.raises(SourceEncodingError) as info:  # the whole file: raised, not yielded per line
        list(parse_judgments_jsonl(b"\x80\x81\x82 binary \x9f\n", source_path="j.jsonl"))
    assert info.value.path == "j.jsonl"


def test_html_that_is_not_a_judgment() -> None:
    with pytest.raises(MalformedSource, match="not a judgment"):
        parse_judgment_html(b"<html><body><p>Office hours: 9am to 5pm.</p></body></html>", source_path="n.htm")


# ---------------------------------------------------------------- case citations, pinpoints, dates


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HCAL 123/2024", [("action_number", "HCAL 123/2024", None, [])]),
        ("Chan Tai Man v Secretary for Justice HCAL 123/2024 at [5]",
         [("action_number", "HCAL 123/2024", "Chan Tai Man v Secretary for Justice", [5])]),
        ("X v Y [2021] HKCFA 1, (2021) 24 HKCFAR 1 at [33]",  # parallel citations: one entry
         [("neutral_citation", "[2021] HKCFA 1", "X v Y", [33])]),
        ("律政司司長 訴 陳大文 [2020] HKCA 10，第5段", [("neutral_citation", "[2020] HKCA 10", "律政司司長 訴 陳大文", [5])]),
        ("香港特別行政區 訴 陳大文及另一人 [2020] HKCA 11",
         [("neutral_citation", "[2020] HKCA 11", "香港特別行政區 訴 陳大文及另一人", [])]),
        ("2024] HKCA 150", [("neutral_citation", "[2024] HKCA 150", None, [])]),
        ("[2024] HKCA 150 at para 7", [("neutral_citation", "[2024] HKCA 150", None, [7])]),
        ("[2024] HKCA 150 at §9", [("neutral_citation", "[2024] HKCA 150", None, [9])]),
        ("FACV 1/2020; CACV 2/2021",  # two action numbers are two cases, not parallel citations
         [("action_number", "FACV 1/2020", None, []), ("action_number", "CACV 2/2021", None, [])]),
        ("我今日好busy，聽日先睇", []),
    ],
)
def test_find_case_citations(text: str, expected: list[tuple[str, str, str | None, list[int]]]) -> None:
    found = find_case_citations(text)
    assert [(kind, e[kind], e["case_name"], e["paragraphs"]) for e, (kind, *_rest) in zip(found, expected, strict=True)] \
        == expected


def test_extract_authorities_merges_across_units_and_excludes_own() -> None:
    def u(key: str, text: str) -> Unit:
        return Unit(key=key, citation=Citation(kind="judgment", neutral_citation="[2025] HKCFI 1"), heading="",
                    text=text, lang="en", ordinal=0)

    units = [u("para1", "HKSAR v Lee [2024] HKCA 150 at [3]; this case, [2025] HKCFI 1, and HCCC 5/2024."),
             u("para2", "Again HKSAR v Lee [2024] HKCA 150 at [9] and at [3]."),
             u("fn1", "HKSAR v Lee [2024] HKCA 150, (2024) 27 HKCFAR 5.")]
    auths = extract_authorities(units, exclude={"[2025] HKCFI 1", "HCCC 5/2024"})
    (lee,) = auths
    assert lee["neutral_citation"] == "[2024] HKCA 150" and lee["report_citation"] == "(2024) 27 HKCFAR 5"
    assert lee["paragraphs"] == [3, 9] and lee["cited_in"] == ["para1", "para2", "fn1"]
    assert lee["case_name"] == "HKSAR v Lee"


@pytest.mark.parametrize(
    ("tail", "pin"),
    [(" at [12] and more", 12), (", at para. 5", 5), (" at paras 5-6", 5), ("（第7段）", 7), ("，第 8 段", 8),
     (" at §4", 4), (" and [12]", None), ("", None), ("\nat [3]", None)],
)
def test_pinpoint_after(tail: str, pin: int | None) -> None:
    text = "[2024] HKCA 150" + tail
    assert pinpoint_after(text, len("[2024] HKCA 150")) == pin


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Date of Judgment: 3 May 2024", date(2024, 5, 3)),
        ("3rd May, 2024", date(2024, 5, 3)),
        ("1 JANUARY 2025", date(2025, 1, 1)),
        ("29 February 2024", date(2024, 2, 29)),
        ("29 February 2023", None),  # not a date
        ("判案日期：2024年 5 月 3 日", date(2024, 5, 3)),
        ("2024年2月30日", None),
        ("30 Febuary 2024", None),
    ],
)
def test_parse_date_more(text: str, expected: date | None) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [(" a\u00a0 b \r\n\n  c\u3000d\t\te ", "a b\nc d e"), ("\n\n", ""), ("第 1 段\u3000\u3000完", "第 1 段 完")],
)
def test_clean(raw: str, cleaned: str) -> None:
    assert clean(raw) == cleaned
