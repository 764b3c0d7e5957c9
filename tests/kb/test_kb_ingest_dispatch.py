"""The ingest dispatcher: files, folders, ZIP archives (official DoJ member names), bad input per file."""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

import pytest

from hkllm.kb.ingest import (
    EmptySource,
    IngestError,
    MalformedSource,
    SourceItem,
    UnsupportedFileType,
    decode_text,
    discover,
    parse_path,
    parse_paths,
)
from hkllm.kb.types import SourceDocument

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
LEG = DATA / "hk-legislation"
JUD = DATA / "hk-judgments-sample"

_spec = importlib.util.spec_from_file_location("hklm_fixture", Path(__file__).with_name("test_kb_hklm_xml.py"))
assert _spec and _spec.loader
_fixture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixture)
MINI_XML: bytes = _fixture.mini()

JUDGMENT_TXT = (b"HCCC 1/2024 HKSAR v. CHAN\n\nHCCC 1/2024\n\n[2024] HKCFI 9\n\nIN THE HIGH COURT OF THE\n\n"
                b"_____\n\nHKSAR\n\nv\n\nChan\n\n_____\n\nBefore: Hon Lee J\n\nDate: 3 May 2024\n\n_____\n\n"
                b"JUDGMENT\n\n_____\n\n1. The only paragraph.")


def kinds(results: list) -> list[str]:
    return [r.kind if isinstance(r, SourceDocument) else type(r).__name__ for r in results]


@pytest.fixture
def batch(tmp_path: Path) -> Path:
    root = tmp_path / "batch"
    (root / "sub").mkdir(parents=True)
    (root / "a_law.xml").write_bytes(MINI_XML)
    (root / "b_broken.xml").write_bytes(MINI_XML[:300])
    (root / "c_wrongns.xml").write_bytes(MINI_XML.replace(b"http://www.xml.gov.hk/schemas/hklm/1.0", b"urn:x"))
    (root / "d_empty.txt").write_bytes(b"")
    (root / "e_sheet.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    (root / "f_notes.md").write_text("# Notes\n\nSome text.\n", encoding="utf-8")
    (root / "sub" / "g_judgment.txt").write_bytes(JUDGMENT_TXT)
    (root / "sub" / "h_old.doc").write_bytes(b"\xd0\xcf\x11\xe0")
    (root / "schema.xsd").write_text("<xs:schema/>", encoding="utf-8")
    (root / ".hidden.md").write_text("# hidden", encoding="utf-8")
    (root / "noext").write_bytes(b"data")
    return root


def test_folder_batch_carries_on_after_bad_files(batch: Path):
    results = list(parse_path(batch))
    assert kinds(results) == ["legislation", "MalformedSource", "MalformedSource", "EmptySource", "UnsupportedFileType",
                              "document", "UnsupportedFileType", "judgment", "UnsupportedFileType"]
    errors = [r for r in results if isinstance(r, IngestError)]
    assert [Path(e.path).name for e in errors] == ["b_broken.xml", "c_wrongns.xml", "d_empty.txt", "e_sheet.xls",
                                                   "noext", "h_old.doc"]
    assert "malformed XML" in errors[0].problem and "namespace" in errors[1].problem
    assert "convert to .docx" in errors[5].problem
    assert all(str(e).startswith(e.path + ": ") and e.status == 400 for e in errors)


def test_discover_lists_without_parsing(batch: Path):
    items = list(discover(batch))
    names = [i.name for i in items if isinstance(i, SourceItem)]
    assert "schema.xsd" not in names and ".hidden.md" not in names and len(names) == 9


def test_missing_path_is_an_error_not_an_exception(tmp_path: Path):
    (err,) = list(parse_path(tmp_path / "nope"))
    assert isinstance(err, IngestError) and "no such file" in err.problem


def _zip(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_zip_with_backslash_member_names_read_in_place(tmp_path: Path):
    archive = _zip(tmp_path / "hkel_c_leg_cap_1_cap_300_en.zip", {
        "cap_999_en_c\\cap_999_20240131000000_en_c.xml": MINI_XML,
        "cap_999_en_c\\sample.pdf": b"",
        "cap_999_en_c\\inner.zip": b"PK",
        "__MACOSX\\junk.xml": b"x",
    })
    results = list(parse_path(archive))
    assert kinds(results) == ["legislation", "UnsupportedFileType", "EmptySource"]
    doc = results[0]
    assert doc.source_path == f"{archive}!cap_999_en_c/cap_999_20240131000000_en_c.xml"
    assert not any(p.suffix == ".xml" for p in tmp_path.rglob("*"))  # nothing extracted
    item = SourceItem(str(archive), "cap_999_en_c\\cap_999_20240131000000_en_c.xml")
    assert item.name == "cap_999_20240131000000_en_c.xml" and item.suffix == ".xml"


def test_truncated_and_corrupt_zip(tmp_path: Path):
    good = _zip(tmp_path / "good.zip", {"a.xml": MINI_XML, "b.md": b"# T\n\ntext"}, zipfile.ZIP_STORED)
    data = good.read_bytes()
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(data[: len(data) // 2])
    (err,) = list(parse_path(truncated))
    assert isinstance(err, MalformedSource) and err.path == str(truncated) and "ZIP" in err.problem
    corrupt = tmp_path / "corrupt.zip"
    at = data.index(b"An Ordinance for testing.")
    corrupt.write_bytes(data[:at] + b"X" + data[at + 1:])  # bad CRC in the first member only
    results = list(parse_path(corrupt))
    assert kinds(results) == ["MalformedSource", "document"]
    assert results[0].path == f"{corrupt}!a.xml" and "cannot read archive member" in results[0].problem


def test_parse_paths_and_judgment_sniffing(tmp_path: Path):
    html_doc = tmp_path / "page.html"
    html_doc.write_text("<html><body><h1>Notice</h1><p>Office hours.</p></body></html>", encoding="utf-8")
    txt = tmp_path / "j.txt"
    txt.write_bytes(JUDGMENT_TXT)
    results = list(parse_paths([html_doc, txt]))
    assert kinds(results) == ["document", "judgment"]


@pytest.mark.parametrize(
    "data,text",
    [("香港".encode("utf-8-sig"), "香港"), ("香港".encode("utf-16"), "香港"), ("香港特別行政區".encode("big5"), "香港特別行政區"),
     ('<meta charset="big5">香港'.encode("big5"), '<meta charset="big5">香港'), (b"plain", "plain")],
)
def test_decode_text(data, text):
    assert decode_text(data, "f") == text


@pytest.mark.skipif(not LEG.exists(), reason="../shared/data/hk-legislation absent")
def test_real_legislation_folder_and_official_zip(tmp_path: Path):
    results = list(parse_path(LEG))
    assert not [r for r in results if isinstance(r, IngestError)]
    laws = [r for r in results if r.kind == "legislation"]
    assert sorted(d.key for d in laws) == ["cap:486:en", "cap:486:zh-Hant"]
    archive = tmp_path / "hkel_c_leg_cap_301_cap_600_en.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(LEG.glob("cap_486_*/*.xml")):
            zf.writestr(f"{p.parent.name}\\{p.name}", p.read_bytes())  # official names use backslashes
    zipped = list(parse_path(archive))
    assert [d.key for d in zipped] == ["cap:486:en", "cap:486:zh-Hant"]
    direct = {d.key: d for d in laws}
    for d in zipped:
        assert d.content_sha256 == direct[d.key].content_sha256
        assert [(u.key, u.text) for u in d.units] == [(u.key, u.text) for u in direct[d.key].units]


@pytest.mark.skipif(not JUD.exists(), reason="../shared/data/hk-judgments-sample absent")
def test_real_judgment_folder():
    results = list(parse_path(JUD))
    assert not [r for r in results if isinstance(r, IngestError)]
    judgments = [r for r in results if r.kind == "judgment"]
    assert len(judgments) == 20  # 10 HTML pages + 10 JSONL records of the same judgments
    assert len({d.key for d in judgments}) == 10
    assert all(d.meta["neutral_citation"] for d in judgments)


@pytest.mark.parametrize(
    "name,data,exc",
    [("x.docx", b"", EmptySource), ("x.pdf", b"%PDF-1.4 broken", MalformedSource), ("x.rtf", b"{\\rtf}", UnsupportedFileType),
     ("x.jsonl", b"{bad", MalformedSource), ("x.htm", "<p>\u00e9</p>".encode("cp1252") + b"\x81\x8d", IngestError)],
)
def test_single_bad_files(tmp_path: Path, name, data, exc):
    path = tmp_path / name
    path.write_bytes(data)
    results = list(parse_path(path))
    assert len(results) == 1 and isinstance(results[0], exc)
    assert results[0].path.startswith(str(path))
