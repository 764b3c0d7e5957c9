"""Judgment parsing: the Judiciary sample (HTML and JSONL), cited authorities, case names, encodings."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from hkeyecite import get_citations

from hkllm.kb.ingest import IngestError, MalformedSource, SourceEncodingError, decode_text
from hkllm.kb.ingest.judgments import (
    case_name_before,
    detect_lang,
    find_case_citations,
    parse_date,
    parse_judgment_html,
    parse_judgment_text,
    parse_judgments_jsonl,
)

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "hk-judgments-sample"
needs_data = pytest.mark.skipif(not (DATA / "judgments.jsonl").exists(), reason="../shared/data/hk-judgments-sample absent")


def _records() -> list[dict]:
    return [json.loads(ln) for ln in (DATA / "judgments.jsonl").read_text(encoding="utf-8").splitlines() if ln.strip()]


@pytest.fixture(scope="module")
def html_docs():
    return {p.name: parse_judgment_html(p.read_bytes(), source_path=str(p)) for p in sorted((DATA / "html").glob("*.htm"))}


@pytest.fixture(scope="module")
def jsonl_docs():
    out = list(parse_judgments_jsonl((DATA / "judgments.jsonl").read_bytes(), source_path="judgments.jsonl"))
    assert not [d for d in out if isinstance(d, IngestError)]
    return out


@needs_data
def test_neutral_citation_court_language_for_every_judgment(html_docs):
    records = _records()
    assert len(records) == 10
    for rec in records:
        doc = html_docs[Path(rec["file"]).name]
        assert doc.meta["neutral_citation"] == rec["neutral_citation"]
        assert doc.meta["court"] == rec["court"]
        assert doc.lang == rec["language"]
        assert doc.title == rec["title"]
        assert doc.key.startswith(f"judgment:{rec['neutral_citation']}")
    keys = [d.key for d in html_docs.values()]
    assert len(set(keys)) == 10 and "judgment:[2025] HKDC 600:corrigendum" in keys


@needs_data
@pytest.mark.parametrize(
    "name,when,parties,coram",
    [
        ("single-d-single-dt.htm", date(2025, 7, 24), ["HKSAR", "Wong Man-kit"], ["Hon Woodcock J"]),
        ("appeal.htm", date(2025, 10, 17), ["HKSAR", "Lau Kam Hung (劉金洪)"], ["Hon Macrae VP in Court"]),
        ("appeal-from.htm", date(2025, 1, 22), ["HKSAR", "LAU Kam-hung (劉金洪)"], ["The Honourable Mr. Justice D. Yau"]),
        ("single-d-multi-dt.htm", date(2025, 8, 8), ["香港特別行政區", "劉子健"], ["高等法院暫委法官姚勳智"]),
        ("multi-d-multi-dt+ndt.htm", date(2025, 8, 6), ["香港特別行政區", "曾浩然", "張曜龍"], ["區域法院暫委法官徐綺薇"]),
        ("corrigendum.htm", date(2025, 5, 8), ["香港特別行政區", "黃鈺庭", "蘇偉強"], ["區域法院暫委法官陳永豪"]),
    ],
)
def test_header_fields(html_docs, name, when, parties, coram):
    doc = html_docs[name]
    assert doc.version_date == when
    assert [p["name"] for p in doc.meta["parties"]] == parties
    assert doc.meta["coram"] == coram


@needs_data
def test_roles_case_numbers_and_appeal_link(html_docs):
    appeal = html_docs["appeal.htm"]
    assert [p["role"] for p in appeal.meta["parties"]] == ["Respondent", "Applicant"]
    assert appeal.meta["appeal_from"] == ["[2025] HKCFI 470"]
    assert appeal.meta["case_numbers"] == ["CACC 28/2025"]
    assert appeal.meta["document_title"] == "J U D G M E N T"
    assert html_docs["multi-d-multi-dt.htm"].meta["case_numbers"] == ["HCCC 316/2023", "HCCC 317/2023"]
    zh = html_docs["multi-d-multi-dt+ndt.htm"]
    assert [p["role"] for p in zh.meta["parties"]] == [None, "第一被告人", "第二被告人"]
    assert zh.meta["court_name_zh"] == "區域法院"
    assert html_docs["corrigendum.htm"].meta["document_type"] == "corrigendum"


@needs_data
@pytest.mark.parametrize("name", ["appeal.htm", "appeal-from.htm", "case-with-corrigendum.htm", "multi-d-multi-dt+ndt.htm"])
def test_numbered_paragraphs_match_html_anchors(html_docs, name):
    html = (DATA / "html" / name).read_text(encoding="utf-8")
    anchors = sorted({int(n) for n in re.findall(r'<a name="p(\d+)" class="para"', html)})
    doc = html_docs[name]
    paras = [u.citation.paragraph for u in doc.units if u.citation.paragraph is not None]
    assert paras == anchors and paras == list(range(1, len(paras) + 1))
    assert all(u.key == f"para{u.citation.paragraph}" for u in doc.units if u.citation.paragraph)
    assert all(u.citation.neutral_citation == doc.meta["neutral_citation"] for u in doc.units)


@needs_data
def test_paragraph_content_and_footnotes(html_docs):
    units = {u.key: u for u in html_docs["appeal.htm"].units}
    assert units["para1"].text.startswith("Having pleaded not guilty before a magistrate")
    assert units["para3"].heading == "The admitted facts"
    assert "(i) 4 re-sealable plastic bags" in units["para5"].text  # the list stays with its paragraph
    assert units["fn26"].text == "HKSAR v Chau Hon Kwong [2011] 1 HKLRD 630, at [34]."
    assert sum(1 for k in units if k.startswith("fn")) == 35
    zh = {u.key: u for u in html_docs["multi-d-multi-dt+ndt.htm"].units}
    assert zh["para1"].heading == "引言" and zh["para7"].text.endswith("(3) 一部流動電話。")
    assert zh["closing"].text.startswith("（ 徐綺薇 ）")


@needs_data
def test_transcripts_have_blocks_not_paragraph_numbers(html_docs):
    doc = html_docs["single-d-single-dt.htm"]
    assert doc.meta["numbered_paragraphs"] is False
    assert all(u.citation.paragraph is None for u in doc.units)
    assert doc.units[0].key == "block1" and doc.units[0].text.startswith("COURT: The defendant pleaded guilty")
    assert doc.units[-1].key == "closing" and doc.units[-1].text.startswith("I/we certify")


@needs_data
def test_cited_neutral_citations_cover_the_sample(html_docs):
    """Every neutral citation in the text other than the judgment's own (and its lower-court decision) is
    a cited authority -- including ``2024] HKCA 150`` that the sample's own regex missed (missing '[')."""
    for rec in _records():
        doc = html_docs[Path(rec["file"]).name]
        own = {rec["neutral_citation"], *doc.meta["appeal_from"]}
        expected = {c for c in rec["citations_in_text"] if c not in own}
        if rec["neutral_citation"] == "[2025] HKCFI 4195":
            expected.add("[2024] HKCA 150")
        assert set(doc.meta["cited_neutral_citations"]) == expected, rec["file"]


@needs_data
@pytest.mark.parametrize(
    "name,citation,case_name",
    [
        ("single-d-single-dt.htm", "[2024] HKCA 150", "HKSAR v Lee Ming Ho"),
        ("single-d-single-dt.htm", "[2009] 1 HKLRD 1", "Secretary for Justice v Hii Siew Cheng"),
        ("single-d-single-dt.htm", "[2025] HKCA 234", "HKSAR v Huang Ruifang"),
        ("multi-d-single-dt.htm", "[2025] 2 HKLRD 138", "HKSAR v Huang Ruifang (No. 3)"),
        ("appeal.htm", "[1979] HKLR 491", "Chan Chi Ming v R"),
        ("appeal.htm", "DCCC 908/2018", None),
        ("case-with-corrigendum.htm", "[2019] 1 HKLRD 428", "香港特別行政區 訴 王俊軒"),
        ("case-with-corrigendum.htm", "CACC 410/2012", "HKSAR v Chan Kam Loi"),
        ("multi-d-multi-dt+ndt.htm", "[2025] HKCA 234", "HKSAR v Huang Ruifang(黃瑞芳)"),
        ("appeal-from.htm", "[2016] 5 HKLRD 1", "HKSAR v Ngo Van Nam"),
    ],
)
def test_cited_authorities(html_docs, name, citation, case_name):
    auths = html_docs[name].meta["cited_authorities"]
    hit = [a for a in auths if citation in (a["neutral_citation"], a["report_citation"], a["action_number"])]
    assert len(hit) == 1 and hit[0]["case_name"] == case_name and hit[0]["cited_in"]


@needs_data
def test_authorities_parallel_pinpoint_and_exclusions(html_docs):
    from_ = {a["report_citation"]: a for a in html_docs["appeal-from.htm"].meta["cited_authorities"]}
    assert from_["[2016] 5 HKLRD 1"]["action_number"] == "CACC 418/2014"  # parallel citation, one case
    assert from_["[2021] 1 HKLRD 290"]["paragraphs"] == []  # the next footnote's "[2]" is not a pinpoint
    appeal = {a["report_citation"]: a for a in html_docs["appeal.htm"].meta["cited_authorities"]}
    assert appeal["[2011] 1 HKLRD 630"]["paragraphs"] == [34]
    for doc in html_docs.values():
        cited = {a.get("neutral_citation") for a in doc.meta["cited_authorities"]}
        assert doc.meta["neutral_citation"] not in cited
        assert not set(doc.meta["case_numbers"]) & {a.get("action_number") for a in doc.meta["cited_authorities"]}


@needs_data
def test_jsonl_and_html_agree(html_docs, jsonl_docs):
    assert len(jsonl_docs) == 10
    for j in jsonl_docs:
        h = html_docs[Path(j.meta["source_file"]).name]
        assert (j.key, j.version_date, j.lang) == (h.key, h.version_date, h.lang)
        assert j.meta["parties"] == h.meta["parties"]
        assert [u.citation.paragraph for u in j.units if u.citation.paragraph] == [
            u.citation.paragraph for u in h.units if u.citation.paragraph]
        assert set(j.meta["cited_neutral_citations"]) == set(h.meta["cited_neutral_citations"])
        assert j.source_path.startswith("judgments.jsonl#L")


# ---------------------------------------------------------------- hkeyecite's case-name bug

BUG_TEXT = "In HKSAR v Chan Kam Chuen [2021] HKCA 123 the court held, as it did later in [2025] HKCA 234, that"


def test_hkeyecite_attaches_earlier_case_name_upstream():
    """Canary for the pinned hkeyecite 0.1.4: it gives the second citation the first case's name."""
    upstream = {c.normalized(): c.metadata.get("case_name") for c in get_citations(BUG_TEXT)}
    assert upstream["[2025] HKCA 234"] == "HKSAR v Chan Kam Chuen"


def test_case_name_not_attached_to_a_later_neutral_citation():
    found = {e["neutral_citation"]: e["case_name"] for e in find_case_citations(BUG_TEXT)}
    assert found == {"[2021] HKCA 123": "HKSAR v Chan Kam Chuen", "[2025] HKCA 234": None}


@pytest.mark.parametrize(
    "before,name",
    [
        ("the most recent authority of HKSAR v Huang Ruifang ", "HKSAR v Huang Ruifang"),
        ("In HKSAR v Chan Kam Chuen ", "HKSAR v Chan Kam Chuen"),
        ("See also Secretary for Justice v Hii Siew Cheng, ", "Secretary for Justice v Hii Siew Cheng"),
        ("applied in Chan Chi Ming v R ", "Chan Chi Ming v R"),
        ("HKSAR v Huang Ruifang (No. 3) ", "HKSAR v Huang Ruifang (No. 3)"),
        ("上訴庭在HKSAR v Lee Ming Ho(李名豪) ", "HKSAR v Lee Ming Ho(李名豪)"),
        ("可參考香港特別行政區 訴 王俊軒 ", "香港特別行政區 訴 王俊軒"),
        ("辯方則引述香港特別行政區 訴 曾繼安", "香港特別行政區 訴 曾繼安"),
        ("Re Wong Kam Fai ", "Re Wong Kam Fai"),
        ("A v Commissioner of Police and another ", "A v Commissioner of Police and another"),
        ("as the court did later in ", None),
        ("HKSAR v Chan [2021] HKCA 1 and then ", None),
        ("The Court of Appeal said so; ", None),
    ],
)
def test_case_name_before(before, name):
    assert case_name_before(before + "[2020] HKCA 1", len(before)) == name


@pytest.mark.parametrize(
    "text,expected",
    [("24 July 2025 at 9.36 am", date(2025, 7, 24)), ("17 October 2025", date(2025, 10, 17)),
     ("2025年8月8日上午10時07分", date(2025, 8, 8)), ("1st March 2020", date(2020, 3, 1)),
     ("31 February 2020", None), ("sometime", None)],
)
def test_parse_date(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize("text,lang", [("The defendant pleaded guilty.", "en"), ("被告承認兩項控罪。", "zh-Hant"),
                                       ("被告承認「販運危險藥物」罪 (Trafficking in dangerous drugs)。", "zh-Hant")])
def test_detect_lang(text, lang):
    assert detect_lang(text) == lang


# ---------------------------------------------------------------- encodings and bad input


@needs_data
def test_big5_judgment_decodes_like_utf8(html_docs):
    src = (DATA / "html" / "multi-d-multi-dt+ndt.htm").read_text(encoding="utf-8")
    big5 = src.replace("charset=utf-8", "charset=big5").encode("big5hkscs")
    doc = parse_judgment_html(big5, source_path="big5.htm")
    ref = html_docs["multi-d-multi-dt+ndt.htm"]
    assert [u.text for u in doc.units] == [u.text for u in ref.units]
    undeclared = src.replace("charset=utf-8", "").encode("big5hkscs")  # no declaration: still detected
    assert parse_judgment_html(undeclared, source_path="x.htm").meta["parties"] == ref.meta["parties"]
    mislabeled = src.replace("charset=utf-8", "charset=big5").encode("utf-8")  # declared Big5, really UTF-8
    assert parse_judgment_html(mislabeled, source_path="y.htm").units[0].text == ref.units[0].text


@pytest.mark.parametrize(
    "data",
    [
        "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e, na\u00efve r\u00e9sum\u00e9 \u00e0 la fran\u00e7aise".encode("cp1252"),
        "The judge’s “reasons” — in full".encode().decode("latin-1").encode("utf-8"),  # double-encoded
        b"\xff\xfe\xfd\x80\x81 binary \x00\x9f",
    ],
)
def test_wrong_encodings_are_refused_not_stored_as_mojibake(data):
    with pytest.raises(SourceEncodingError) as info:
        decode_text(data, "bad.txt")
    assert info.value.path == "bad.txt"


def test_text_judgment_minimal():
    text = ("HCCC 1/2024 HKSAR v. CHAN\n\nHCCC 1/2024\n\n[2024] HKCFI 9\n\nIN THE HIGH COURT OF THE\n\n"
            "COURT OF FIRST INSTANCE\n\n_____\n\nHKSAR\n\nv\n\nChan Tai Man\n\nDefendant\n\n_____\n\n"
            "Before: Hon Lee J\n\nDate of Judgment:\n\n3 May 2024\n\n_____\n\nJUDGMENT\n\n_____\n\n"
            "1. The defendant is charged under s. 4 of Cap. 134.\n\n2. As held in HKSAR v Wong [2020] HKCA 5 at [7], "
            "the sentence stands.\n\n(Lee J)\n\n[1] A footnote.")
    doc = parse_judgment_text(text, source_path="t.txt")
    assert doc.key == "judgment:[2024] HKCFI 9" and doc.version_date == date(2024, 5, 3)
    assert [u.key for u in doc.units] == ["para1", "para2", "closing", "fn1"]
    assert doc.meta["parties"] == [{"name": "HKSAR", "role": None}, {"name": "Chan Tai Man", "role": "Defendant"}]
    assert doc.meta["coram"] == ["Hon Lee J"] and doc.meta["document_title"] == "JUDGMENT"
    (auth,) = doc.meta["cited_authorities"]
    assert auth["neutral_citation"] == "[2020] HKCA 5" and auth["case_name"] == "HKSAR v Wong"
    assert auth["paragraphs"] == [7] and auth["cited_in"] == ["para2"]


def test_jsonl_bad_lines_reported_rest_carries_on():
    good = {"text": "HCCC 1/2024 X\n\n[2024] HKCFI 9\n\nIN THE HIGH COURT\n\n1. Body text here.", "title": "X"}
    data = "\n".join([json.dumps(good), "{not json", json.dumps({"text": ""}), "", json.dumps(["list"]),
                      json.dumps({"text": "no citation or case number at all"})]).encode()
    out = list(parse_judgments_jsonl(data, source_path="j.jsonl"))
    assert [type(o).__name__ for o in out] == ["SourceDocument", "MalformedSource", "MalformedSource",
                                               "MalformedSource", "MalformedSource"]
    assert [o.path for o in out[1:]] == ["j.jsonl#L2", "j.jsonl#L3", "j.jsonl#L5", "j.jsonl#L6"]
    assert "invalid JSON" in out[1].problem and "not a judgment" in out[4].problem


@needs_data
def test_html_without_lrs_header_tags_falls_back_to_text_reading(html_docs):
    src = (DATA / "html" / "appeal.htm").read_text(encoding="utf-8")
    plain = re.sub(r"<(/?)(parties|coram|date|representation|charge)>", r"<\1div>", src)
    doc = parse_judgment_html(plain.encode(), source_path="plain.htm")
    ref = html_docs["appeal.htm"]
    assert (doc.key, doc.version_date, doc.meta["coram"]) == (ref.key, ref.version_date, ref.meta["coram"])
    assert [p["name"] for p in doc.meta["parties"]] == ["HKSAR", "Lau Kam Hung (劉金洪)"]
    assert [u.key for u in doc.units if u.citation.paragraph] == [u.key for u in ref.units if u.citation.paragraph]
    assert doc.meta["footnote_count"] == 35


def test_html_without_body_is_an_error():
    html = b"<html><head><title>HCCC 1/2024</title></head><body><p>[2024] HKCFI 9</p><parties><table><tr>" \
           b"<td>HKSAR</td></tr></table></parties><p>________</p></body></html>"
    with pytest.raises(MalformedSource):
        parse_judgment_html(html, source_path="empty.htm")
