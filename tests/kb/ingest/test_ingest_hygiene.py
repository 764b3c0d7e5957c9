"""Ingest hygiene (issue 11, item 5): metadata files skipped in folders and ZIPs unless asked; PDF text
NFKC-normalised (Kangxi radicals, ligatures, as PDF fonts map them through ToUnicode); a PDF unit never spans
two pages and its citation carries the page; titles from the document, not a tool's placeholder."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from hkllm.kb.citations import format_citation
from hkllm.kb.ingest import IngestError, SourceItem, discover
from hkllm.kb.ingest.documents import clean_pdf_text, parse_document, usable_title
from hkllm.kb.ingest.sources import is_metadata_file
from hkllm.kb.types import Citation
from tests.kb.test_kb_documents import serialize_pdf

REAL_PDF = Path(__file__).resolve().parents[3] / "../shared/data/hk-legislation-pdf/cap_1_en_elegislation.pdf"


def make_mapped_pdf(pages: list[list[str]], mapping: dict[str, str], title: str | None = None) -> bytes:
    """A PDF whose font maps single-byte codes to ``mapping``'s code points through a ToUnicode CMap, as PDF
    producers map CJK glyphs to Kangxi radicals (U+2F00..) and ligature glyphs to U+FB03."""
    pairs = "\n".join(f"<{ord(src):02X}> <{''.join(f'{ord(c):04X}' for c in dst)}>" for src, dst in mapping.items())
    cmap = ("/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
            "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n1 begincodespacerange\n<00> <FF>\n"
            f"endcodespacerange\n{len(mapping)} beginbfchar\n{pairs}\nendbfchar\nendcmap\n"
            "CMapName currentdict /CMap defineresource pop\nend\nend").encode()
    n = len(pages)
    font_id, cmap_id = 3 + 2 * n, 4 + 2 * n
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               f"<< /Type /Pages /Kids [{' '.join(f'{3 + 2 * i} 0 R' for i in range(n))}] /Count {n} >>".encode()]
    for i, lines in enumerate(pages):
        stream = "\n".join(["BT", "/F1 11 Tf", "72 760 Td", "14 TL", *(f"({ln}) Tj T*" for ln in lines),
                            "ET"]).encode("latin-1")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
                       f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode())
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(f"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /ToUnicode {cmap_id} 0 R >>".encode())
    objects.append(b"<< /Length %d >>\nstream\n" % len(cmap) + cmap + b"\nendstream")
    return serialize_pdf(objects, title)


# Kangxi radicals and a CJK character as a Hong Kong government PDF's font maps them; a ligature
GLYPHS = {"A": "\u2f42", "B": "件", "C": "\u2f64", "D": "私", "E": "\u2f08", "F": "\ufb03"}


# -- metadata files ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "metadata"), [
    ("PROVENANCE.md", True), ("README", True), ("readme.txt", True), ("README.zh-Hant.md", True), ("README-zh.md", True),
    ("LICENSE", True), ("Licence.txt", True), ("CHANGELOG.md", True),
    ("readmeguide.txt", False), ("cap486.xml", False), ("私隱指引.pdf", False), ("Licensing Guide.pdf", False),
    ("Data Readme Guide.pdf", False),
])
def test_metadata_file_names(name: str, metadata: bool) -> None:
    assert is_metadata_file(name) is metadata


def _names(items: list[SourceItem | IngestError]) -> list[str]:
    return [item.name for item in items if isinstance(item, SourceItem)]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "batch"
    (root / "sub").mkdir(parents=True)
    for rel in ("PROVENANCE.md", "README.txt", ".notes.txt", "guide.txt", "sub/readme.md", "sub/policy.md"):
        (root / rel).write_text("# Title\n\nSome text.\n", encoding="utf-8")
    return root


def test_a_folder_skips_metadata_and_dot_files_unless_asked(folder: Path) -> None:
    assert _names(list(discover(folder))) == ["guide.txt", "policy.md"]
    assert _names(list(discover(folder, include_metadata=True))) == [
        "PROVENANCE.md", "README.txt", "guide.txt", "policy.md", "readme.md"]


def test_a_zip_skips_metadata_and_dot_files_unless_asked(tmp_path: Path) -> None:
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for member in ("pack/PROVENANCE.md", "pack/README", "pack/.DS_Store", "pack/.hidden.txt", "pack/a.txt"):
            zf.writestr(member, "text")
    assert _names(list(discover(archive))) == ["a.txt"]
    assert _names(list(discover(archive, include_metadata=True))) == ["PROVENANCE.md", "README", "a.txt"]


def test_a_metadata_file_named_directly_is_read(folder: Path) -> None:
    assert _names(list(discover(folder / "README.txt"))) == ["README.txt"]


# -- PDF text and titles ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "clean"), [
    ("\u2f42件\u2f64私\u2f08", "文件用私人"),  # Kangxi radicals 「⽂件⽤私⼈」
    ("O\ufb03cers", "Officers"),  # ffi ligature
    ("\ufb01le \ufb02ow", "file flow"),
    ("ＡＢＣ１２３", "ABC123"),  # full-width forms
    ("\u2f00\u2f06\u2f17", "一二十"),
    ("第486章第18條", "第486章第18條"),  # ordinary text untouched
    ("私隱條例", "私隱條例"),
])
def test_clean_pdf_text(raw: str, clean: str) -> None:
    assert clean_pdf_text(raw) == clean


@pytest.mark.parametrize(("title", "usable"), [
    ("about:blank", None), ("About:Blank", None), ("Untitled", None), ("  ", None), (None, None),
    ("Microsoft Word - guide.docx", None), ("https://www.pcpd.org.hk/x", None), ("guide-final.pdf", None),
    ("Data Handling Guide", "Data Handling Guide"), ("私隱指引", "私隱指引"), ("  Two   spaces ", "Two spaces"),
])
def test_usable_title(title: str | None, usable: str | None) -> None:
    assert usable_title(title) == usable


def test_pdf_text_is_nfkc_and_the_placeholder_title_is_ignored() -> None:
    pdf = make_mapped_pdf([["ABCDE"], ["OFcers must act."]], GLYPHS, title="about:blank")
    doc = parse_document(pdf, source_path="notice.pdf")
    assert doc.title == "文件用私人"  # the document's own first line, not "about:blank"
    text = "\n".join(u.text for u in doc.units)
    assert "文件用私人" in text and "Officers must act." in text
    assert not any("\u2f00" <= ch <= "\u2fdf" or ch == "\ufb03" for ch in text)


def test_pdf_units_are_per_page_with_the_page_in_their_citation() -> None:
    pdf = make_mapped_pdf([["Retention rules apply to all staff."], ["Records are kept seven years."],
                           ["Court orders override the period."]], {}, title="Records Guide")
    doc = parse_document(pdf, source_path="records.pdf")
    assert doc.title == "Records Guide"
    assert [(u.citation.page, u.meta["page"]) for u in doc.units] == [(1, 1), (2, 2), (3, 3)]
    assert format_citation(doc.units[1].citation) == f"{doc.key} § p. 2"
    assert doc.units[1].citation.to_dict()["page"] == 2


def test_a_cited_page_resolves_to_its_section() -> None:
    from hkllm.kb.store.records import citation_from_json

    cit = Citation(kind="document", doc_id="doc:guide--0123456789ab", section="2. Retention", page=3)
    assert format_citation(cit) == "doc:guide--0123456789ab § 2. Retention, p. 3"
    assert citation_from_json(cit.to_dict()) == cit
    assert "page" not in Citation(kind="document", doc_id="doc:x").to_dict()  # other citations unchanged


@pytest.mark.skipif(not REAL_PDF.exists(), reason="shared e-Legislation PDF not present")
def test_a_real_elegislation_pdf_has_pages_and_its_own_title() -> None:
    doc = parse_document(REAL_PDF.read_bytes(), source_path=REAL_PDF.name)
    assert doc.title == "Interpretation and General Clauses Ordinance"
    assert doc.units and all(u.citation.page is not None for u in doc.units)
    assert max(u.citation.page or 0 for u in doc.units) > 100  # 111 pages, each unit on one of them
