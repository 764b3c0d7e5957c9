"""HKLM XML parsing: spot tests against the real Cap. 486 files, synthetic edge cases, bad input."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import pytest

from hkllm.kb.ingest import MalformedSource
from hkllm.kb.ingest.hklm_xml import HKLM_NS, align_bilingual, clean_inline, lang_code, parse_hklm_xml

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "hk-legislation"
EN = DATA / "cap_486_en_c" / "cap_486_20221001000000_en_c.xml"
ZH = DATA / "cap_486_zh-Hant_c" / "cap_486_20221001000000_zh-Hant_c.xml"
needs_data = pytest.mark.skipif(not (EN.exists() and ZH.exists()), reason="../shared/data/hk-legislation absent")


@pytest.fixture(scope="module")
def cap486():
    en = parse_hklm_xml(EN.read_bytes(), source_path=str(EN))
    zh = parse_hklm_xml(ZH.read_bytes(), source_path=str(ZH))
    return en, zh


def _xml_section_ids(path: Path) -> tuple[list[str], list[str]]:
    """Independent count with the stdlib: (main sections' names, schedule sections' temporalIds)."""
    root = ET.parse(path).getroot()
    ns = "{%s}" % HKLM_NS  # noqa: UP031
    main = root.find(ns + "main")
    scheds = main.findall(ns + "schedule")
    in_sched = {id(s) for sch in scheds for s in sch.iter(ns + "section")}
    body = [s.get("name") for s in main.iter(ns + "section") if id(s) not in in_sched]
    sched = [s.get("temporalId") for sch in scheds for s in sch.iter(ns + "section")]
    return body, sched


@needs_data
def test_document_identity(cap486):
    en, zh = cap486
    assert (en.key, zh.key) == ("cap:486:en", "cap:486:zh-Hant")
    assert en.version_date == zh.version_date == date(2022, 10, 1)
    assert en.title == "Personal Data (Privacy) Ordinance"
    assert zh.title == "個人資料(私隱)條例"
    assert en.meta["doc_name"] == "Cap. 486" and zh.meta["doc_name"] == "第486章"
    assert en.kind == zh.kind == "legislation" and en.lang == "en" and zh.lang == "zh-Hant"
    assert len(en.content_sha256) == 64


@needs_data
@pytest.mark.parametrize("lang_idx,path", [(0, EN), (1, ZH)])
def test_every_section_and_schedule_section_present(cap486, lang_idx, path):
    doc = cap486[lang_idx]
    body, sched = _xml_section_ids(path)
    assert len(body) == 124 and len(sched) == 26  # as PROVENANCE.md states
    keys = [u.key for u in doc.units]
    assert [k for k in keys if not k.startswith("sch")] == body
    assert [k.replace("/", "_") for k in keys if "/" in k] == sched
    # schedules without sections (Sch. 4 heading only, Sch. 6 forms) are units of their own
    assert [k for k in keys if k.startswith("sch") and "/" not in k] == ["sch4", "sch6"]
    assert [s["number"] for s in doc.meta["schedules"]] == ["1", "2", "3", "4", "5", "6"]
    assert doc.meta["sections"] == 124
    assert len(set(keys)) == len(keys)
    assert [u.ordinal for u in doc.units] == list(range(len(doc.units)))


@needs_data
@pytest.mark.parametrize(
    "key,en_heading,zh_heading",
    [
        ("s1", "Short title and commencement", "簡稱及生效日期"),
        ("s2", "Interpretation", "釋義"),
        ("s11A", "Immunity", "豁免"),
        ("s18", "Data access request", "查閱資料要求"),
        ("s35E", "Data user must not use personal data in direct marketing without data subject’s consent",
         "如無資料當事人同意，資料使用者不得將個人資料用於直接促銷"),
        ("s64", "Offences for disclosing personal data without consent", "在未獲同意下披露個人資料屬罪行"),
        ("s66S", "Complainant to be informed of result of specified investigation", "投訴人須獲告知指明調查的結果"),
        ("s75", "Transitional provision for Personal Data (Privacy) (Amendment) Ordinance 2021",
         "《2021年個人資料(私隱)(修訂)條例》的過渡條文"),
        ("sch1/s4", "Principle 4—security of personal data", "第4原則——個人資料的保安"),
        ("sch2/s6", "Exemption from taxation", "豁免徵稅"),
        ("sch3/s1", "", ""),
        ("sch6", "Forms of Warrants", "手令的格式"),
    ],
)
def test_headings(cap486, key, en_heading, zh_heading):
    en, zh = ({u.key: u for u in d.units} for d in cap486)
    assert en[key].heading == en_heading
    assert zh[key].heading == zh_heading


@needs_data
def test_section_text_keeps_numbering(cap486):
    en, zh = ({u.key: u for u in d.units} for d in cap486)
    lines = en["s18"].text.splitlines()
    assert lines[0] == ("(1) An individual, or a relevant person on behalf of an individual, may make a request—")
    assert lines[1].startswith("(a) to be informed by a data user whether the data user holds personal data")
    assert lines[2].startswith("(b) if the data user holds such data")
    assert any(ln.startswith("(6) A person who commits an offence under subsection (5)") for ln in lines)
    assert "(Amended" not in en["s1"].text and en["s1"].meta["source_notes"]  # notes kept out of the text
    assert zh["s18"].text.splitlines()[0] == "(1) 任何個人或代表一名個人的有關人士可提出內容如下的要求 ——"
    assert "\n(a) 要求資料使用者告知他該使用者是否持有該名個人屬其資料當事人的個人資料；" in zh["s18"].text
    assert en["s18"].meta["subsections"] == ["1", "2", "3", "4", "5", "6"]
    assert {"1", "1/a", "1/b", "5/b"} <= set(en["s18"].meta["provisions"])
    assert "Data Protection Principles" == en["sch1/s4"].meta["schedule_heading"]


@needs_data
def test_structure_and_status(cap486):
    en, zh = ({u.key: u for u in d.units} for d in cap486)
    assert [(p["type"], p["number"], p["heading"]) for p in en["s18"].meta["path"]] == [
        ("part", "5", "Access to and Correction of Personal Data"), ("division", "1", "Access to Personal Data")]
    assert [p["label"] for p in zh["s18"].meta["path"]] == ["第5部", "第1分部"]
    assert en["s33"].meta["status"] == "pending" and en["s33"].meta["editorial_notes"] == ["(Not yet in operation)"]
    assert en["s34"].meta["status"] == "repealed" and en["s34"].text == "(Repealed 18 of 2012 s. 20)"
    assert zh["s34"].text == "(由2012年第18號第20條廢除)"
    assert en["sch4"].meta["empty"] is True
    assert "Part 1 Warrant Authorizing Privacy Commissioner" in en["sch6"].text
    part_headings = [p["heading"] for p in cap486[0].meta["parts"] if p["type"] == "part"]
    assert len(part_headings) == 12 and part_headings[0] == "Preliminary"


@needs_data
def test_definitions(cap486):
    en, zh = ({u.key: u for u in d.units} for d in cap486)
    defs = {d["term"]: d for d in en["s2"].meta["definitions"]}
    assert defs["personal data"]["other_lang_term"] == "個人資料"
    assert defs["data user"]["other_lang_term"] == "資料使用者"
    zdefs = {d["term"]: d for d in zh["s2"].meta["definitions"]}
    assert zdefs["個人資料"]["other_lang_term"] == "personal data"
    assert len(en["s2"].meta["definitions"]) >= 40


@needs_data
def test_bilingual_alignment_complete(cap486):
    en, zh = cap486
    (report,) = align_bilingual([en, zh])
    assert report.cap == "486" and report.version_date == date(2022, 10, 1)
    assert report.coverage == 1.0 and report.only == {"en": [], "zh-Hant": []}
    assert len(report.aligned) == len(en.units) == len(zh.units) == 152
    assert en.meta["titles"] == zh.meta["titles"] == {"en": "Personal Data (Privacy) Ordinance",
                                                      "zh-Hant": "個人資料(私隱)條例"}
    for a, b in zip(en.units, zh.units, strict=True):
        assert a.align_key == b.align_key and a.meta["aligned"] and b.meta["aligned"]
        assert a.citation.section == b.citation.section and a.citation.schedule == b.citation.schedule
        assert a.meta.get("subsections") == b.meta.get("subsections")
        assert bool(a.heading) == bool(b.heading)
    assert {u.align_key for u in en.units} >= {"486/s18", "486/sch1/s4", "486/s35E"}


# ---------------------------------------------------------------- synthetic documents

MINI = """<?xml version="1.0" encoding="UTF-8"?>
<ordinance xmlns="http://www.xml.gov.hk/schemas/hklm/1.0" xmlns:dc="http://purl.org/dc/elements/1.1/"
  xml:lang="{lang}"><meta><docName>Cap. 999</docName><docType>cap</docType><docNumber>999</docNumber>
  <dc:date>{date}</dc:date></meta><main>
 <longTitle><content>An Ordinance for testing.</content></longTitle>
 <part name="P1"><num value="1">Part 1</num><heading>Preliminary</heading>
  <section name="s1" temporalId="s1" status="operational"><num value="1">1.</num><heading>Short title</heading>
   <content>This Ordinance may be cited as the <shortTitle>Test
     Ordinance</shortTitle>.</content></section>
  <section name="s2A" temporalId="s2A"><num value="2A">2A.</num><heading>Duty</heading>
   <subsection name="1"><num value="1">(1)</num><leadIn>A person must—</leadIn>
    <paragraph name="a"><num value="a">(a)</num><content>do <ref href="/hk/cap999/s1">this</ref>; and</content></paragraph>
    <paragraph name="b"><num value="b">(b)</num><leadIn>do that—</leadIn>
     <subparagraph name="i"><num value="i">(i)</num><content>now; or</content></subparagraph>
     <subparagraph name="ii"><num value="ii">(ii)</num><content>later,</content></subparagraph></paragraph>
    <continued>unless excused.<sourceNote>(Amended 1 of 2020)</sourceNote></continued></subsection>
   <subsection name="2"><num value="2">(2)</num><content>In this section— <def name="x"><term>thing</term>
     (<term xml:lang="zh-Hant-HK">物</term>) means a thing;</def></content></subsection></section></part>
 <schedule name="sch1"><num value="1">Schedule 1</num><heading>Forms</heading>
  <section name="s1" temporalId="sch1_s1"><num value="1">1.</num><heading>Form A</heading><content>Fill in.</content></section>
 </schedule>
</main></ordinance>"""


def mini(lang: str = "en", version: str = "2024-01-31") -> bytes:
    return MINI.format(lang=lang, date=version).encode()


def test_synthetic_rendering():
    doc = parse_hklm_xml(mini(), source_path="mini.xml")
    units = {u.key: u for u in doc.units}
    assert list(units) == ["s1", "s2A", "sch1/s1"]
    assert doc.title == "Test Ordinance" and doc.version_date == date(2024, 1, 31)
    assert units["s2A"].text == ("(1) A person must—\n(a) do this; and\n(b) do that—\n(i) now; or\n(ii) later,\n"
                                 "unless excused.\n(2) In this section—\nthing (物) means a thing;")
    assert units["s2A"].meta["provisions"] == ["1", "1/a", "1/b", "1/b/i", "1/b/ii", "2"]
    assert units["s2A"].citation.section == "2A" and units["s2A"].align_key == "999/s2A"
    assert units["sch1/s1"].citation.schedule == "1" and units["sch1/s1"].align_key == "999/sch1/s1"
    assert units["s1"].meta["path"][0]["heading"] == "Preliminary"


def test_zh_language_code_and_versions_kept_apart():
    old = parse_hklm_xml(mini("zh-Hant-HK", "2020-01-01"), source_path="a.xml")
    new = parse_hklm_xml(mini("zh-Hant-HK", "2024-01-01"), source_path="b.xml")
    assert old.key == new.key == "cap:999:zh-Hant"  # same identity, told apart by version_date
    assert old.version_date < new.version_date and old.meta["xml_lang"] == "zh-Hant-HK"
    reports = align_bilingual([old, new, parse_hklm_xml(mini("en", "2024-01-01"), source_path="c.xml")])
    assert [(r.version_date, r.coverage) for r in reports] == [(date(2020, 1, 1), 0.0), (date(2024, 1, 1), 1.0)]


@pytest.mark.parametrize(
    "raw,expected",
    [("Personal Data (Privacy)\n        Ordinance", "Personal Data (Privacy) Ordinance"),
     ("個人資料\n   (私隱)條例", "個人資料(私隱)條例"),
     ("  section\n 14A(5) ", "section 14A(5)"),
     ("第 486 章", "第 486 章")],
)
def test_clean_inline(raw, expected):
    assert clean_inline(raw) == expected


@pytest.mark.parametrize("raw,code", [("zh-Hant-HK", "zh-Hant"), ("zh-Hans-CN", "zh-Hans"), ("en", "en"),
                                      ("EN-GB", "en"), (None, "en")])
def test_lang_code(raw, code):
    assert lang_code(raw) == code


@pytest.mark.parametrize(
    "data,problem",
    [
        (b"<ordinance xmlns='http://www.xml.gov.hk/schemas/hklm/1.0'><meta>", "malformed XML"),
        (b"<?xml version='1.0'?><ordinance xmlns='urn:other'><meta/><main/></ordinance>", "not the HKLM namespace"),
        (b"<ordinance><meta/><main/></ordinance>", "not the HKLM namespace"),
        (b"<amendment xmlns='http://www.xml.gov.hk/schemas/hklm/1.0'/>", "unsupported HKLM document"),
        (b"<ordinance xmlns='http://www.xml.gov.hk/schemas/hklm/1.0'><main/></ordinance>", "without <meta>"),
        (mini().replace(b"<docNumber>999</docNumber>", b""), "no chapter number"),
        (mini(version="2024-13-45"), "bad version date"),
        (b"<ordinance xmlns='http://www.xml.gov.hk/schemas/hklm/1.0'><meta><docNumber>1</docNumber></meta>"
         b"<main/></ordinance>", "no sections"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
         b"<ordinance xmlns='http://www.xml.gov.hk/schemas/hklm/1.0'>&e;</ordinance>", ""),
    ],
)
def test_bad_xml_raises_typed_error_naming_file(data, problem):
    with pytest.raises(MalformedSource) as info:
        parse_hklm_xml(data, source_path="in/bad.xml")
    assert info.value.path == "in/bad.xml" and problem in info.value.problem
    assert str(info.value).startswith("in/bad.xml: ")
    assert "root:" not in str(info.value)  # external entities are never loaded
