"""HKLM XML: root kinds, metadata fallbacks, tables, repealed and pending sections, schedules with parts,
Chinese layout whitespace, encodings, malformed input, entity expansion; and, when ../shared/data has them,
the point-in-time versions of Cap. 614 and the unnumbered Schedule of Cap. 25."""

from __future__ import annotations

from datetime import date

import pytest

from hkllm.kb.citations import InMemoryResolver, verify_citations
from hkllm.kb.ingest import MalformedSource, parse_path
from hkllm.kb.ingest.hklm_xml import HKLM_NS, align_bilingual, iter_units, parse_hklm_xml
from hkllm.kb.types import Citation, SourceDocument
from tests.conftest import SHARED_DATA

EXTRA = SHARED_DATA / "hk-legislation-extra"

META = "<docNumber>777</docNumber><dc:date>2023-05-01</dc:date>"
S1 = '<section name="s1"><num value="1">1.</num><heading>H</heading><content>Text.</content></section>'


def hklm(body: str, *, root: str = "ordinance", lang: str | None = "en", meta: str = META,
         decl: str = '<?xml version="1.0" encoding="UTF-8"?>') -> bytes:
    lang_attr = f' xml:lang="{lang}"' if lang else ""
    return (f'{decl}<{root} xmlns="{HKLM_NS}" xmlns:dc="http://purl.org/dc/elements/1.1/"{lang_attr}>'
            f"<meta>{meta}</meta><main>{body}</main></{root}>").encode()


def units(doc: SourceDocument) -> dict[str, tuple[str, str]]:
    return {u.key: (u.heading, u.text) for u in doc.units}


@pytest.mark.parametrize("root", ["ordinance", "subLeg", "resolution"])
def test_every_root_kind_is_read(root: str) -> None:
    doc = parse_hklm_xml(hklm(S1, root=root), source_path="r.xml")
    assert doc.meta["root"] == root and doc.key == "cap:777:en" and units(doc) == {"s1": ("H", "Text.")}


@pytest.mark.parametrize(
    ("meta", "lang", "key", "version", "title"),
    [
        ("<dc:identifier>/hk/cap486A</dc:identifier><dc:date>2023-05-01</dc:date>", "en", "cap:486A:en",
         date(2023, 5, 1), "Cap. 486A"),  # chapter number from the identifier when docNumber is missing
        ("<docNumber>1</docNumber><dc:language>zh-Hant-HK</dc:language>", None, "cap:1:zh-Hant", None, "Cap. 1"),
        ("<docNumber>1</docNumber><dc:date>2023-05-01T00:00:00</dc:date>", "en", "cap:1:en", date(2023, 5, 1), "Cap. 1"),
        ("<docNumber>1</docNumber><docName>第1章</docName>", "zh-Hant-HK", "cap:1:zh-Hant", None, "第1章"),
        ("<docNumber>32A</docNumber>", "zh-Hans-CN", "cap:32A:zh-Hans", None, "Cap. 32A"),
    ],
)
def test_metadata_fallbacks(meta: str, lang: str | None, key: str, version: date | None, title: str) -> None:
    doc = parse_hklm_xml(hklm(S1, lang=lang, meta=meta), source_path="m.xml")
    assert (doc.key, doc.version_date, doc.title) == (key, version, title)


def test_comments_and_processing_instructions_are_not_text() -> None:
    body = "<!-- editor's note -->" + S1.replace("Text.", "Te<!-- inner -->xt.<?pi y?>") + "<?pi x?>"
    assert units(parse_hklm_xml(hklm(body), source_path="c.xml")) == {"s1": ("H", "Text.")}


def test_tables_become_rows_of_cells() -> None:
    body = ('<section name="s2"><num value="2">2.</num><heading>Fees</heading><content><table><tbody>'
            "<tr><th>Item</th><th>Fee</th></tr><tr><td>Copy of 附表</td><td>$10</td></tr></tbody></table></content></section>")
    assert units(parse_hklm_xml(hklm(body), source_path="t.xml")) == {"s2": ("Fees", "Item | Fee\nCopy of 附表 | $10")}


def test_repealed_and_pending_sections() -> None:
    body = ('<section name="s3" status="repealed"><num value="3">3.</num><heading>(Repealed)</heading>'
            "<sourceNote>(Repealed 1 of 2020 s. 2)</sourceNote></section>"
            '<section name="s5" status="pending"><num value="5">5.</num><heading>Later</heading>'
            "<editorialNote>(Not yet in operation)</editorialNote><content>Soon.</content></section>")
    doc = parse_hklm_xml(hklm(body), source_path="p.xml")
    by_key = {u.key: u for u in doc.units}
    assert by_key["s3"].text == "(Repealed 1 of 2020 s. 2)" and by_key["s3"].meta["status"] == "repealed"
    assert by_key["s5"].text == "Soon." and by_key["s5"].meta["editorial_notes"] == ["(Not yet in operation)"]
    assert "editorial_notes" not in by_key["s3"].meta


def test_numbered_element_without_text_keeps_its_number() -> None:
    body = ('<section name="s6"><num value="6">6.</num><subsection name="1"><num value="1">(1)</num></subsection>'
            '<subsection name="2"><num value="2">(2)</num><content>Two.</content></subsection></section>')
    (unit,) = parse_hklm_xml(hklm(body), source_path="e.xml").units
    assert unit.text == "(1)\n(2) Two." and unit.meta["subsections"] == ["1", "2"]


def test_chinese_layout_whitespace_is_dropped() -> None:
    body = ('<section name="s4"><num value="4">4.</num><heading>釋義</heading><content>在本條例中 ——\n'
            "   資料使用者\n (data user) 指……</content></section>")
    (unit,) = parse_hklm_xml(hklm(body, lang="zh-Hant-HK"), source_path="z.xml").units
    assert unit.text == "在本條例中 —— 資料使用者(data user) 指……" and unit.lang == "zh-Hant"
    assert unit.citation == Citation(kind="legislation", cap="777", section="4", lang="zh-Hant")


def test_schedule_with_parts_sections_and_loose_content() -> None:
    body = (S1 + '<schedule name="sch2"><num value="2">Schedule 2</num><heading>Fees</heading>'
            '<part name="P1"><num value="1">Part 1</num><heading>General</heading>'
            '<section name="s1"><num value="1">1.</num><content>A.</content></section></part>'
            '<part name="P2"><num value="2">Part 2</num><heading>Table</heading><content>Item | Fee</content></part>'
            "</schedule>")
    doc = parse_hklm_xml(hklm(body), source_path="s.xml")
    by_key = {u.key: u for u in doc.units}
    assert list(by_key) == ["s1", "sch2/s1", "sch2"]
    assert [(p["type"], p["number"]) for p in by_key["sch2/s1"].meta["path"]] == [("schedule", "2"), ("part", "1")]
    assert by_key["sch2/s1"].align_key == "777/sch2/s1" and by_key["sch2/s1"].meta["schedule_heading"] == "Fees"
    assert by_key["sch2"].text == "Part 2 Table\nItem | Fee" and by_key["sch2"].citation.schedule == "2"
    assert doc.meta["schedules"] == [{"number": "2", "label": "Schedule 2", "heading": "Fees"}]
    assert doc.meta["sections"] == 1  # schedule sections are not counted as the chapter's sections
    assert [u.key for u in iter_units(doc, schedule="2")] == ["sch2/s1", "sch2"]
    assert [u.key for u in iter_units(doc)] == ["s1", "sch2/s1", "sch2"]


def test_parts_outside_schedules_are_listed_with_their_sections() -> None:
    body = ('<part name="P1"><num value="1">Part 1</num><heading>Preliminary</heading>' + S1 +
            '<division name="D1"><num value="1">Division 1</num><heading>Access</heading>'
            + S1.replace('"s1"', '"s2"').replace("1.", "2.").replace('value="1"', 'value="2"') + "</division></part>")
    doc = parse_hklm_xml(hklm(body), source_path="p.xml")
    assert [(p["type"], p["heading"], p["sections"]) for p in doc.meta["parts"]] == [
        ("part", "Preliminary", ["1", "2"]), ("division", "Access", ["2"])]
    assert [p["type"] for p in {u.key: u for u in doc.units}["s2"].meta["path"]] == ["part", "division"]


@pytest.mark.parametrize(
    ("encode", "decl"),
    [
        (lambda s: s.encode("utf-16"), '<?xml version="1.0" encoding="UTF-16"?>'),
        (lambda s: s.encode("big5hkscs"), '<?xml version="1.0" encoding="Big5"?>'),
        (lambda s: b"\xef\xbb\xbf" + s.encode("utf-8"), '<?xml version="1.0" encoding="UTF-8"?>'),
    ],
    ids=["utf-16", "big5-declared", "utf-8-bom"],
)
def test_declared_encodings_are_honoured(encode, decl: str) -> None:  # noqa: ANN001
    body = '<section name="s1"><num value="1">1.</num><heading>標題</heading><content>資料使用者</content></section>'
    text = hklm(body, lang="zh-Hant-HK", decl=decl).decode("utf-8")
    doc = parse_hklm_xml(encode(text), source_path="enc.xml")
    assert units(doc) == {"s1": ("標題", "資料使用者")}


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "malformed XML"),
        (b"   \n", "malformed XML"),
        (hklm(S1.replace("Text.", "資料使用者")).decode().encode("big5hkscs"), "malformed XML"),  # says UTF-8, is Big5
        (hklm(S1)[:-20], "malformed XML"),
        ("資料使用者".encode(), "malformed XML"),
        (b"%PDF-1.4", "malformed XML"),
        (b"<html><body>hi</body></html>", "not the HKLM namespace"),
    ],
    ids=["empty", "blank", "wrong-encoding", "truncated", "plain-text", "pdf", "html"],
)
def test_bad_input_names_the_file(data: bytes, problem: str) -> None:
    with pytest.raises(MalformedSource) as info:
        parse_hklm_xml(data, source_path="dir/cap_777.xml")
    assert info.value.path == "dir/cap_777.xml" and problem in info.value.problem
    assert info.value.status == 400 and info.value.code == "malformed_source"


def test_entities_are_never_expanded() -> None:
    doctype = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
               '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
               '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>')
    data = doctype.encode() + hklm(S1.replace("Text.", "&lol3;"), decl="")
    doc = parse_hklm_xml(data, source_path="bomb.xml")
    assert "lol" not in doc.units[0].text


def test_alignment_reports_provisions_in_one_language_only() -> None:
    en = parse_hklm_xml(hklm(S1 + S1.replace('"s1"', '"s2"').replace('value="1"', 'value="2"')), source_path="en.xml")
    zh = parse_hklm_xml(hklm(S1, lang="zh-Hant-HK"), source_path="zh.xml")
    (report,) = align_bilingual([en, zh])
    assert report.aligned == ["777/s1"] and report.only == {"en": ["777/s2"], "zh-Hant": []}
    assert report.coverage == pytest.approx(0.5)
    assert [u.meta["aligned"] for u in en.units] == [True, False]
    assert en.meta["titles"] == zh.meta["titles"] == {"en": "Cap. 777", "zh-Hant": "Cap. 777"}


def test_alignment_ignores_other_kinds_and_single_languages() -> None:
    only_en = parse_hklm_xml(hklm(S1), source_path="en.xml")
    other = SourceDocument(kind="document", key="doc:x", title="x", lang="en", version_date=None, source_path="x",
                           content_sha256="0" * 64)
    (report,) = align_bilingual([only_en, other])
    assert report.coverage == 0.0 and report.aligned == [] and report.only == {"en": ["777/s1"]}


# ---------------------------------------------------------------- real data: point-in-time versions

needs_extra = pytest.mark.skipif(not (EXTRA / "cap_614_en_p").is_dir(), reason="../shared/data/hk-legislation-extra absent")


@pytest.fixture(scope="module")
def extra() -> list[SourceDocument]:
    return [d for d in parse_path(EXTRA) if isinstance(d, SourceDocument) and d.kind == "legislation"]


@needs_extra
def test_cap614_versions_share_a_key_and_carry_their_dates(extra: list[SourceDocument]) -> None:
    cap614 = sorted((d for d in extra if d.meta["cap"] == "614"), key=lambda d: d.version_date or date.min)
    assert len(cap614) == 12 and {d.key for d in cap614} == {"cap:614:en"}
    for doc in cap614:  # the version date in the file name is the one in <dc:date>
        stamp = doc.source_path.rsplit("cap_614_", 1)[1][:8]
        assert doc.version_date == date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:8]))
        assert doc.title == "Legislation Publication Ordinance"
        assert len({u.key for u in doc.units}) == len(doc.units)
    # sections quoted inside amending provisions (quotedStructure) are not sections of Cap. 614 itself
    assert [len(d.units) for d in cap614][:2] == [31, 36]


@needs_extra
def test_point_in_time_resolution_and_verification(extra: list[SourceDocument]) -> None:
    resolver = InMemoryResolver(extra)
    s14a = Citation(kind="legislation", cap="614", section="14A", lang="en")
    assert resolver.resolve(s14a, version_date=date(2024, 7, 18)) is None  # added on 2024-07-19
    in_force = resolver.resolve(s14a, version_date=date(2024, 7, 19))
    assert in_force is not None and in_force.heading == "Powers to make formatting amendments"
    newest = resolver.resolve(s14a)
    assert newest is not None and newest.version_date == date(2026, 6, 1)
    checks = verify_citations("Cap. 614 s. 14A and Cap. 614 s. 4", resolver, version_date=date(2024, 3, 1)).checks
    assert [c.status for c in checks] == ["not_found", "resolved"]
    before = verify_citations("Cap. 614 s. 4", resolver, version_date=date(2011, 6, 29)).checks
    assert [c.status for c in before] == ["outside_kb"]  # no version in force yet


@needs_extra
def test_unnumbered_schedule_and_title_index(extra: list[SourceDocument]) -> None:
    cap25 = next(d for d in extra if d.meta["cap"] == "25")
    assert cap25.meta["schedules"] == [{"number": "0", "label": "Schedule", "heading": ""}]
    assert [u.key for u in cap25.units if u.citation.schedule] == [f"sch0/s{i}" for i in range(1, 10)]
    resolver = InMemoryResolver(extra)
    assert resolver.title_index() == {"labourtribunalordinance": "25", "legislationpublicationordinance": "614",
                                      "newterritoriesleases(extension)ordinance": "150"}
    checks = verify_citations("Labour Tribunal Ordinance (Cap. 25) s. 7; Cap. 150 s. 3; Cap. 25 s. 99", resolver).checks
    assert [(c.found.text, c.status) for c in checks] == [("Labour Tribunal Ordinance (Cap. 25) s. 7", "resolved"),
                                                          ("Cap. 150 s. 3", "resolved"), ("Cap. 25 s. 99", "not_found")]
