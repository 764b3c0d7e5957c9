"""Uploaded documents: Chinese numbered headings, heading-only files, title and key precedence, Chinese
chunking, DOCX without a Title style and with merged cells, HTML without block markup, bad uploads."""

from __future__ import annotations

import hashlib
import io

import pytest

from hkllm.kb.ingest import (
    EmptySource,
    IngestError,
    MalformedSource,
    SourceEncodingError,
    UnsupportedFileType,
)
from hkllm.kb.ingest.documents import (
    MAX_CHUNK_CHARS,
    Block,
    _split_long,
    chunk_sections,
    doc_key,
    parse_document,
)


def sections(data: bytes, path: str) -> list[tuple[str | None, str]]:
    return [(u.citation.section, u.text) for u in parse_document(data, source_path=path).units]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("一、目的\n本指引說明資料使用者的責任。\n二、範圍\n適用於所有政策局及部門。\n",
         [("一、目的", "本指引說明資料使用者的責任。"), ("二、範圍", "適用於所有政策局及部門。")]),
        ("第一部 總則\n本部適用於荃灣及旺角辦事處。\n\n第二部 查閱\n須在40日內依從。\n",
         [("第一部 總則", "本部適用於荃灣及旺角辦事處。"), ("第二部 查閱", "須在40日內依從。")]),
        ("Part 1 Scope\nApplies to all staff.\n\nAnnex A Forms\nUse form A.\n",
         [("Part 1 Scope", "Applies to all staff."), ("Annex A Forms", "Use form A.")]),
        ("1. 目的\n本指引\n說明責任。\n",  # Chinese lines joined without a space
         [("1. 目的", "本指引說明責任。")]),
        ("Hello 我今日好busy，聽日再傾。", [(None, "Hello 我今日好busy，聽日再傾。")]),
        ("The fee is HK$300.\n2. Next\nText.\n", [(None, "The fee is HK$300."), ("2. Next", "Text.")]),
    ],
)
def test_txt_headings_in_hong_kong_documents(text: str, expected: list[tuple[str | None, str]]) -> None:
    assert sections(text.encode(), "notes.txt") == expected


def test_a_line_inside_a_paragraph_is_not_a_heading() -> None:
    first = "The officer must consider every request made by a data subject, in writing, under"  # > 60 chars
    text = f"{first}\n2. Other matters listed in the circular\n"
    assert sections(text.encode(), "p.txt") == [(None, f"{first} 2. Other matters listed in the circular")]


def test_headings_only_document_keeps_its_last_heading_as_text() -> None:
    doc = parse_document("# 只有標題\n\n## 第二個標題\n".encode(), source_path="h.md")
    assert doc.title == "只有標題" and doc.lang == "zh-Hant"
    assert [(u.citation.section, u.text) for u in doc.units] == [("只有標題 > 第二個標題", "第二個標題")]


@pytest.mark.parametrize(
    ("kwargs", "title", "key"),
    [
        ({}, "T", "doc:guide--" + hashlib.sha256(b"# T\n\nbody").hexdigest()[:12]),  # first heading
        ({"title": "Explicit", "key": "doc:custom"}, "Explicit", "doc:custom"),
    ],
)
def test_title_and_key_precedence(kwargs: dict[str, str], title: str, key: str) -> None:
    doc = parse_document(b"# T\n\nbody", source_path="up/Guide.md", **kwargs)
    assert (doc.title, doc.key) == (title, key)
    assert all(u.citation.doc_id == key for u in doc.units)


def test_title_falls_back_to_the_file_name() -> None:
    doc = parse_document(b"body only text", source_path="x.zip!some\\Path Name.txt")
    assert (doc.title, doc.key) == ("Path Name", "doc:path-name--" + hashlib.sha256(b"body only text").hexdigest()[:12])


@pytest.mark.parametrize(
    ("path", "key"),
    [("Privacy_Guide.v2.PDF", "doc:privacy_guide-v2"), ("a/b/荃灣 區議會 文件.docx", "doc:荃灣-區議會-文件"),
     ("--.md", "doc:untitled"), ("archive.zip!folder/Notice (Final).html", "doc:notice-final")],
)
def test_doc_key_more(path: str, key: str) -> None:
    assert doc_key(path) == key


def test_language_of_a_document() -> None:
    assert parse_document("本指引適用於所有部門。".encode(), source_path="z.txt").lang == "zh-Hant"
    assert parse_document(b"This guide applies to all bureaux.", source_path="e.txt").lang == "en"
    mostly_english = "This guide applies to all bureaux in 荃灣 and elsewhere in Hong Kong."
    assert parse_document(mostly_english.encode(), source_path="m.txt").lang == "en"


def test_long_chinese_section_is_split_at_full_stops() -> None:
    sentence = "資料使用者須採取所有切實可行的步驟，確保個人資料受保障。"
    units = chunk_sections([Block("保安", 1), Block(sentence * 80)], doc_id="doc:zh", lang="zh-Hant")
    assert len(units) > 1 and all(len(u.text) <= MAX_CHUNK_CHARS for u in units)
    assert all(u.text.endswith("受保障。") for u in units)
    assert "".join(u.text.replace("\n", "").replace(" ", "") for u in units) == sentence * 80
    assert {u.citation.section for u in units} == {"保安"} and [u.meta["part"] for u in units] == list(
        range(1, len(units) + 1))


def test_split_long_never_exceeds_the_limit_and_loses_nothing() -> None:
    text = "資料使用者須採取所有切實可行的步驟。" * 5 + "A very long English sentence without any stop " * 3
    pieces = _split_long(text, 40)
    assert all(len(p) <= 40 for p in pieces)
    assert "".join(p.replace(" ", "") for p in pieces) == text.replace(" ", "")


def test_heading_levels_nest_and_reset() -> None:
    units = chunk_sections([Block("甲", 1), Block("第一段。"), Block("乙", 2), Block("第二段。"), Block("丙", 1),
                            Block("第三段。")], doc_id="doc:z", lang="zh-Hant")
    assert [(u.key, u.citation.section, u.heading) for u in units] == [
        ("chunk1", "甲", "甲"), ("chunk2", "甲 > 乙", "乙"), ("chunk3", "丙", "丙")]
    assert [u.ordinal for u in units] == [0, 1, 2] and {u.lang for u in units} == {"zh-Hant"}


def test_docx_without_title_style_promotes_headings_and_dedupes_merged_cells() -> None:
    import docx

    d = docx.Document()
    d.add_heading("Top", level=1)
    d.add_paragraph("Body a.")
    d.add_heading("Second", level=2)
    d.add_paragraph("Body b.")
    table = d.add_table(rows=1, cols=3)
    table.cell(0, 0).merge(table.cell(0, 1)).text = "merged"
    table.cell(0, 2).text = "x"
    buf = io.BytesIO()
    d.save(buf)
    doc = parse_document(buf.getvalue(), source_path="nostyle.docx")
    assert doc.title == "Top"
    assert [(u.meta["heading_path"], u.text) for u in doc.units] == [
        (["Top"], "Body a."), (["Top", "Second"], "Body b.\nmerged | x")]


def test_docx_with_only_blank_paragraphs_is_empty() -> None:
    import docx

    d = docx.Document()
    d.add_paragraph("   ")
    buf = io.BytesIO()
    d.save(buf)
    with pytest.raises(EmptySource, match="no text could be extracted"):
        parse_document(buf.getvalue(), source_path="empty.docx")


def test_html_without_block_markup_is_read_line_by_line() -> None:
    doc = parse_document(b"<html><body>Line one\n<br>Line two</body></html>", source_path="n.html")
    assert [u.text for u in doc.units] == ["Line one\nLine two"] and doc.title == "n"


@pytest.mark.parametrize(
    ("data", "path", "exc"),
    [
        (b"\xff\xfe\xfd\x80\x81 binary \x00\x9f", "bad.txt", SourceEncodingError),
        ("<p>caf\u00e9</p>".encode("cp1252") + b"\x81\x8d", "bad.html", SourceEncodingError),
        (b"PK\x03\x04 truncated zip", "x.docx", MalformedSource),
        (b"%PDF-1.4\n%%EOF", "x.pdf", MalformedSource),
        (b"text", "x.pptx", UnsupportedFileType),
        (b"\n\n\t ", "x.md", EmptySource),
    ],
)
def test_bad_uploads_raise_typed_errors_naming_the_file(data: bytes, path: str, exc: type[IngestError]) -> None:
    with pytest.raises(exc) as info:
        parse_document(data, source_path=path)
    assert info.value.path == path and str(info.value).startswith(path + ": ")
    assert isinstance(info.value, IngestError) and info.value.status == 400
