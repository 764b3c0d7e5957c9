"""Uploaded documents: PDF (written by hand here), DOCX (written with python-docx), HTML, Markdown, TXT."""

from __future__ import annotations

import io

import pytest

from hkllm.kb.ingest import EmptySource, MalformedSource, UnsupportedFileType
from hkllm.kb.ingest.documents import (
    MAX_CHUNK_CHARS,
    Block,
    _split_long,
    chunk_sections,
    doc_key,
    parse_document,
)


def make_pdf(pages: list[list[str]], title: str | None = None) -> bytes:
    """A minimal valid PDF (Helvetica, one text line per entry) with a correct xref table."""
    objects: list[bytes] = []
    n_pages = len(pages)
    font_id = 3 + 2 * n_pages
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n_pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    for i, lines in enumerate(pages):
        ops = ["BT", "/F1 11 Tf", "72 760 Td", "14 TL"]
        for ln in lines:
            esc = ln.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({esc}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
                       f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode())
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    return serialize_pdf(objects, title)


def serialize_pdf(objects: list[bytes], title: str | None = None) -> bytes:
    """Numbered objects (object 1 the catalog), an optional /Info title, a correct xref table."""
    objects = list(objects)
    info = ""
    if title:
        objects.append(f"<< /Title ({title}) >>".encode())
        info = f" /Info {len(objects)} 0 R"
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for num, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % num + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{info} >>\n".encode()
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def with_outline(pdf: bytes, items: list[tuple[str, int]]) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(pdf)))
    for title, page in items:
        writer.add_outline_item(title=title, page_number=page)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


PDF_PAGES = [
    ["Data Handling Guide", "1. Introduction", "This guide explains how bureaux handle personal data.",
     "It applies to all staff.", "2. Retention"],
    ["Records are kept for no longer than necessary.", "2.1 Exceptions", "Court orders override the period."],
]


def test_pdf_numbered_headings_and_pages():
    doc = parse_document(make_pdf(PDF_PAGES, title="Handling Guide"), source_path="uploads/Data Guide.pdf")
    assert doc.kind == "document" and doc.key.startswith("doc:data-guide--") and doc.title == "Handling Guide"
    assert doc.meta == {"format": "pdf", "pages": 2}
    got = [(u.citation.section, u.text) for u in doc.units]
    assert got == [
        (None, "Data Handling Guide"),
        ("1. Introduction", "This guide explains how bureaux handle personal data. It applies to all staff."),
        ("2. Retention", "Records are kept for no longer than necessary."),
        ("2. Retention > 2.1 Exceptions", "Court orders override the period."),
    ]
    assert doc.units[2].meta["page"] == 2 and doc.units[1].meta["heading_path"] == ["1. Introduction"]
    assert [u.citation.page for u in doc.units] == [1, 1, 2, 2]
    assert all(u.citation.doc_id == doc.key and u.citation.kind == "document" for u in doc.units)


def test_pdf_outline_gives_headings():
    pdf = with_outline(make_pdf([["Alpha text one."], ["Beta text two."]]), [("Part A", 0), ("Part B", 1)])
    doc = parse_document(pdf, source_path="outlined.pdf")
    assert [(u.heading, u.text) for u in doc.units] == [("Part A", "Alpha text one."), ("Part B", "Beta text two.")]


def test_pdf_without_text_and_broken_pdf():
    with pytest.raises(EmptySource, match="OCR"):
        parse_document(make_pdf([[]]), source_path="scan.pdf")
    with pytest.raises(MalformedSource) as info:
        parse_document(b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\ntrailer garbage", source_path="bad.pdf")
    assert info.value.path == "bad.pdf"


def make_docx() -> bytes:
    import docx

    d = docx.Document()
    d.core_properties.title = "Privacy Circular"
    d.add_heading("Privacy Circular 2024", level=0)
    d.add_heading("Background", level=1)
    d.add_paragraph("The Ordinance applies to all bureaux.")
    d.add_heading("收集個人資料", level=1)
    d.add_paragraph("資料使用者須採取所有切實可行的步驟。")
    d.add_heading("Retention periods", level=2)
    table = d.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Record", "Years"
    table.cell(1, 0).text, table.cell(1, 1).text = "Complaint file", "7"
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def test_docx_headings_tables_and_chinese():
    doc = parse_document(make_docx(), source_path="circular.docx")
    assert doc.title == "Privacy Circular"
    got = [(u.meta["heading_path"], u.text) for u in doc.units]
    assert got == [
        (["Privacy Circular 2024", "Background"], "The Ordinance applies to all bureaux."),
        (["Privacy Circular 2024", "收集個人資料"], "資料使用者須採取所有切實可行的步驟。"),
        (["Privacy Circular 2024", "收集個人資料", "Retention periods"], "Record | Years\nComplaint file | 7"),
    ]
    assert doc.units[1].citation.section == "Privacy Circular 2024 > 收集個人資料"


def test_broken_docx():
    with pytest.raises(MalformedSource, match="docx"):
        parse_document(b"PK\x03\x04 not really a zip", source_path="broken.docx")


def test_markdown_headings_lists_tables():
    md = ("# Guide\n\nIntro text.\n\n## Scope\n\n- applies to A\n- applies to B\n\n| Item | Days |\n|---|---|\n"
          "| Access request | 40 |\n\n## 查閱資料要求\n\n須在40日內依從。\n\n```\ncode block\n```\n")
    doc = parse_document(md.encode(), source_path="guide.md")
    assert [(u.citation.section, u.text) for u in doc.units] == [
        ("Guide", "Intro text."),
        ("Guide > Scope", "applies to A\napplies to B\nItem | Days\nAccess request | 40"),
        ("Guide > 查閱資料要求", "須在40日內依從。\ncode block"),
    ]


def test_html_document():
    html = ("<html><head><title>Notice</title><script>var x=1;</script></head><body><nav>menu</nav>"
            "<h1>Main</h1><p>Para <b>one</b>.</p><h2>Sub</h2><ul><li>item a</li><li>item b</li></ul>"
            "<table><tr><th>k</th><td>v</td></tr></table><h2>Other</h2><p>End.</p></body></html>")
    doc = parse_document(html.encode(), source_path="notice.html")
    assert doc.title == "Notice"
    assert [(u.citation.section, u.text) for u in doc.units] == [
        ("Main", "Para one ."), ("Main > Sub", "item a\nitem b\nk | v"), ("Main > Other", "End.")]


def test_big5_html_document():
    html = '<html><head><meta charset="big5"><title>通告</title></head><body><h1>標題</h1><p>香港特別行政區政府</p></body></html>'
    doc = parse_document(html.encode("big5"), source_path="zh.html")
    assert doc.lang == "zh-Hant" and doc.units[0].text == "香港特別行政區政府"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Title\n=====\n\nBody one.\n\nSub\n---\nBody two.\n",
         [("Title", "Body one."), ("Title > Sub", "Body two.")]),
        ("第一章 總則\n本條例適用於\n所有部門。\n\n第二章 收集\n須合法收集。\n",
         [("第一章 總則", "本條例適用於所有部門。"), ("第二章 收集", "須合法收集。")]),
        ("1. Scope\nText a.\n1.1 Detail\nText b.\n2. Next\nText c.\n",
         [("1. Scope", "Text a."), ("1. Scope > 1.1 Detail", "Text b."), ("2. Next", "Text c.")]),
        ("Plain text only.\nSecond line.\n", [(None, "Plain text only. Second line.")]),
        ("1.5 2.3 4.1 are numbers\nnot headings.\n", [(None, "1.5 2.3 4.1 are numbers not headings.")]),
    ],
)
def test_txt_heading_heuristics(text, expected):
    doc = parse_document(text.encode(), source_path="notes.txt")
    assert [(u.citation.section, u.text) for u in doc.units] == expected


def test_long_sections_are_split_on_sentence_boundaries():
    sentence = "The data user shall take all practicable steps to protect personal data. "
    body = sentence * 60
    units = chunk_sections([Block("Security", 1), Block(body)], doc_id="doc:x", lang="en")
    assert len(units) > 1 and all(len(u.text) <= MAX_CHUNK_CHARS for u in units)
    assert [u.meta["part"] for u in units] == list(range(1, len(units) + 1))
    assert all(u.text.endswith("personal data.") for u in units)
    assert " ".join(u.text for u in units) == body.strip()


@pytest.mark.parametrize(
    "text,limit,pieces",
    [("一句。二句。三句。", 4, ["一句。", "二句。", "三句。"]), ("a" * 10, 4, ["aaaa", "aaaa", "aa"]),
     ("Short.", 100, ["Short."]), ("One. Two. Three.", 9, ["One. Two.", "Three."])],
)
def test_split_long(text, limit, pieces):
    assert _split_long(text, limit) == pieces


@pytest.mark.parametrize(
    "path,key",
    [("a/Privacy Guide 2024.pdf", "doc:privacy-guide-2024"), ("x.zip!dir\\私隱指引.docx", "doc:私隱指引"),
     ("???.txt", "doc:untitled")],
)
def test_doc_key(path, key):
    assert doc_key(path) == key


@pytest.mark.parametrize("data,suffix,exc", [(b"", ".txt", EmptySource), (b"   \n", ".md", EmptySource),
                                             (b"data", ".xls", UnsupportedFileType)])
def test_bad_documents(data, suffix, exc):
    with pytest.raises(exc) as info:
        parse_document(data, source_path=f"f{suffix}", suffix=suffix)
    assert info.value.path == f"f{suffix}"
