"""Parse documents a department uploads (PDF, DOCX, HTML, Markdown, TXT) into chunked ``SourceDocument``s.

Each parser reduces its format to a list of ``(level, heading)`` / text blocks; ``chunk_sections`` then cuts
the document at headings (``meta['heading_path']`` is the path of headings above a chunk) and splits long
sections on paragraph boundaries (about ``MAX_CHUNK_CHARS`` each); a PDF unit never spans two pages. Units
are ``chunk1``, ``chunk2``...; their citation is ``Citation(kind="document", doc_id=<document key>,
section=<heading path>, page=<PDF page>)``. The document key is the file name plus the content hash
(``doc_key``); PDF text is NFKC-normalised (``clean_pdf_text``); placeholder titles (``about:blank``) are
ignored in favour of the document's own first line or heading (``usable_title``).

Parsers: ``pypdf`` (outline / bookmarks give headings when present, else numbered-heading lines),
``python-docx`` (Heading N / Title styles, tables row by row), ``beautifulsoup4`` (h1-h6), ``markdown-it-py``
(ATX/Setext headings, lists, tables), plain text (Markdown-like ``#`` lines, underlined lines, numbered
headings such as ``1.2 Scope`` or ``第一章 總則``).
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from hkllm.kb.ingest.sources import (
    EmptySource,
    IngestError,
    MalformedSource,
    UnsupportedFileType,
    decode_text,
    sha256_hex,
)
from hkllm.kb.types import Citation, SourceDocument, Unit

DOCUMENT_SUFFIXES = (".pdf", ".docx", ".html", ".htm", ".md", ".markdown", ".txt")
MAX_CHUNK_CHARS = 1500
_CJK = re.compile(r"[\u3400-\u9fff]")
_NUMBERED_HEADING = re.compile(
    r"^(?:(?:\d{1,2}(?:\.\d{1,2}){0,3}\.?|[IVXLC]{1,6}\.|(?:Part|Chapter|Section|Annex|Appendix|Schedule)\s+[\w.]+[.:]?)"
    r"\s+\S.{0,90}|第[一二三四五六七八九十百零\d]{1,4}[章部節篇條]\s*\S.{0,40}|[一二三四五六七八九十]{1,3}[、．.]\s*\S.{0,40})$"
)


@dataclass
class Block:
    text: str
    level: int = 0  # 0 = body text; 1..6 = heading level
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. {"page": 3}


def doc_key(source_path: str, content_sha256: str | None = None) -> str:
    """A document's key: its name (``doc:privacy-guide-2024``) and, given the content hash, the first 12 hex
    digits of it (``doc:privacy-guide-2024--3f2a9c1b7d4e``), so a different file with the same name is a
    new document; replacing the same-name ones is explicit (``replace``). The collection is the third part
    of the identity (the store keys documents by collection and key)."""
    stem = PurePosixPath(source_path.replace("\\", "/").split("!")[-1]).stem.lower()
    slug = re.sub(r"[^\w\-]+", "-", stem, flags=re.UNICODE).strip("-")
    name = f"doc:{slug or 'untitled'}"
    return f"{name}--{content_sha256[:12]}" if content_sha256 else name


def doc_name_key(key: str) -> str:
    """The name part of a document key (``doc:readme--3f2a9c1b7d4e`` -> ``doc:readme``)."""
    return re.sub(r"--[0-9a-f]{12}$", "", key)


def parse_document(data: bytes, *, source_path: str, suffix: str | None = None, key: str | None = None,
                   title: str | None = None) -> SourceDocument:
    """Parse an uploaded document; ``suffix`` defaults to the one of ``source_path``."""
    suffix = (suffix or PurePosixPath(source_path.replace("\\", "/")).suffix).lower()
    if not data.strip():
        raise EmptySource(source_path, "file is empty")
    meta: dict[str, Any] = {"format": suffix.lstrip(".")}
    if suffix == ".pdf":
        blocks, found_title = _pdf_blocks(data, source_path, meta)
    elif suffix == ".docx":
        blocks, found_title = _docx_blocks(data, source_path, meta)
    elif suffix in (".html", ".htm"):
        blocks, found_title = _html_blocks(decode_text(data, source_path), meta)
    elif suffix in (".md", ".markdown"):
        blocks, found_title = _markdown_blocks(decode_text(data, source_path, sniff_markup=False))
    elif suffix == ".txt":
        blocks, found_title = _text_blocks(decode_text(data, source_path, sniff_markup=False))
    else:
        raise UnsupportedFileType(source_path, f"unsupported document type {suffix!r}")
    key = key or doc_key(source_path, sha256_hex(data))
    text_len = sum(len(b.text) for b in blocks if b.level == 0)
    if not blocks or (text_len == 0 and not any(b.level for b in blocks)):
        raise EmptySource(source_path, "no text could be extracted" + (" (scanned PDF? OCR is not supported)"
                                                                        if suffix == ".pdf" else ""))
    first_line = next((b.text for b in blocks if b.text.strip()), "") if suffix == ".pdf" else ""
    doc_title = (title or usable_title(found_title) or next((b.text for b in blocks if b.level), "")
                 or (first_line if len(first_line) <= 120 else "")
                 or PurePosixPath(source_path.replace("\\", "/").split("!")[-1]).stem)
    all_text = " ".join(b.text for b in blocks)
    lang = "zh-Hant" if len(_CJK.findall(all_text)) > 0.2 * max(1, len(re.findall(r"\w", all_text))) else "en"
    units = chunk_sections(blocks, doc_id=key, lang=lang)
    return SourceDocument(kind="document", key=key, title=doc_title, lang=lang, version_date=None,
                          source_path=source_path, content_sha256=sha256_hex(data), units=units, meta=meta)


_PLACEHOLDER_TITLE = re.compile(
    r"(?i)^(?:about:blank|untitled(?:\s+document)?|document\d*|title|\w+:/.*|.*\.(?:docx?|pdf|html?|txt|rtf|odt)"
    r"|microsoft word - .*)$")


def usable_title(title: str | None) -> str | None:
    """A title from a file's metadata, or None when it is a placeholder a tool left there (``about:blank``
    from a browser's print to PDF, ``Microsoft Word - x.docx``, a URL or a file name)."""
    title = " ".join(unicodedata.normalize("NFKC", title or "").split())
    return title if title and not _PLACEHOLDER_TITLE.match(title) else None


def clean_pdf_text(text: str) -> str:
    """PDF text as a reader would type it: NFKC folds the compatibility characters PDF fonts map glyphs to
    (Kangxi radicals ⽂ U+2F42 -> 文, CJK compatibility ideographs, ligatures ﬃ -> ffi, full-width forms)."""
    return unicodedata.normalize("NFKC", text)


# ---------------------------------------------------------------- chunking


def _split_long(text: str, limit: int) -> list[str]:
    """Split on sentence boundaries (English and Chinese) so no piece exceeds ``limit``."""
    if len(text) <= limit:
        return [text]
    sentences = [x for x in re.split(r"(?<=[.!?。！？；;])\s*|\n+", text) if x and x.strip()]
    pieces: list[str] = []
    cur = ""
    for sent in sentences:
        sent = sent.strip()
        while len(sent) > limit:  # one sentence longer than the limit: hard cut
            if cur:
                pieces.append(cur)
                cur = ""
            pieces.append(sent[:limit])
            sent = sent[limit:]
        if cur and len(cur) + 1 + len(sent) > limit:
            pieces.append(cur)
            cur = ""
        glue = "" if not cur or (_CJK.match(sent[:1]) and _CJK.match(cur[-1:])) else " "
        cur = cur + glue + sent
    if cur:
        pieces.append(cur)
    return [p.strip() for p in pieces if p.strip()]


def chunk_sections(blocks: Iterable[Block], *, doc_id: str, lang: str,
                   max_chars: int = MAX_CHUNK_CHARS) -> list[Unit]:
    """Cut at headings; keep ``heading_path``; split sections longer than ``max_chars``."""
    path: list[tuple[int, str]] = []
    sections: list[tuple[list[str], list[Block]]] = []
    current: list[Block] = []

    def flush() -> None:
        if current:
            sections.append(([h for _, h in path], list(current)))
            current.clear()

    for b in blocks:
        if b.level:
            flush()
            while path and path[-1][0] >= b.level:
                path.pop()
            path.append((b.level, b.text))
        elif b.text.strip():
            current.append(b)
    flush()
    if not sections and path:  # headings only
        sections.append(([h for _, h in path], []))
    units: list[Unit] = []
    for heading_path, body in sections:
        paragraphs: list[tuple[str, int | None]] = []  # (text, page): a unit never spans two pages
        for b in body:
            paragraphs.extend((piece, b.meta.get("page")) for piece in _split_long(b.text.strip(), max_chars))
        groups: list[tuple[list[str], int | None]] = []
        for para, page in paragraphs or [("", None)]:
            if (groups and groups[-1][1] == page
                    and sum(len(x) + 1 for x in groups[-1][0]) + len(para) <= max_chars):
                groups[-1][0].append(para)
            else:
                groups.append(([para], page))
        section = " > ".join(heading_path) or None
        for part, (group, page) in enumerate(groups, 1):
            text = "\n".join(group).strip() or (heading_path[-1] if heading_path else "")
            if not text:
                continue
            meta: dict[str, Any] = {"heading_path": heading_path}
            if len(groups) > 1:
                meta["part"] = part
            if page is not None:
                meta["page"] = page
            units.append(Unit(
                key=f"chunk{len(units) + 1}",
                citation=Citation(kind="document", doc_id=doc_id, section=section, lang=lang, page=page),
                heading=heading_path[-1] if heading_path else "",
                text=text,
                lang=lang,
                ordinal=len(units),
                meta=meta,
            ))
    return units


# ---------------------------------------------------------------- formats


def _text_lines_to_blocks(lines: list[str], page: int | None = None) -> list[Block]:
    """Plain lines -> paragraphs and heuristic headings (numbered headings, ``#`` lines, underlined lines)."""
    blocks: list[Block] = []
    para: list[str] = []
    extra = {"page": page} if page is not None else {}

    def flush() -> None:
        if para:
            joined = para[0]
            for ln in para[1:]:
                joined += ln if _CJK.match(joined[-1:] or " ") and _CJK.match(ln[:1] or " ") else " " + ln
            blocks.append(Block(joined.strip(), 0, dict(extra)))
            para.clear()

    i = 0
    while i < len(lines):
        ln = lines[i].rstrip()
        stripped = ln.strip()
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        md = re.match(r"^(#{1,6})\s+(.+?)\s*#*$", stripped)
        if md:
            flush()
            blocks.append(Block(md.group(2), len(md.group(1)), dict(extra)))
        elif stripped and re.fullmatch(r"(=+|-+)", nxt) and len(nxt) >= max(3, len(stripped) // 2):
            flush()
            blocks.append(Block(stripped, 1 if nxt.startswith("=") else 2, dict(extra)))
            i += 1
        elif not stripped:
            flush()
        elif _looks_like_heading(stripped, bool(para) and not _ends_paragraph(para[-1])):
            flush()
            num = re.match(r"\d+(?:\.\d+)*", stripped)
            depth = num.group(0).count(".") + 1 if num else 1
            blocks.append(Block(stripped, min(depth, 6), dict(extra)))
        else:
            para.append(stripped)
        i += 1
    flush()
    return blocks


def _ends_paragraph(line: str) -> bool:
    """A line after which a numbered heading may start without a blank line (PDF text has none):
    one ending a sentence, or a short title-like line without punctuation."""
    return bool(re.search(r"[.。:：;；!?！？]$", line)) or (len(line) < 60 and not re.search(r"[,，.。;；]", line))


def _looks_like_heading(line: str, inside_paragraph: bool) -> bool:
    if inside_paragraph or len(line) > 100 or line.endswith((".", "。", ",", "，", ";", "；", ":", "：")):
        return False
    if re.match(r"^\d{1,2}(?:\.\d{1,2}){0,3}\.?\s+\d", line):  # "1.5 2.3" numbers, not headings
        return False
    return bool(_NUMBERED_HEADING.match(line))


def _text_blocks(text: str) -> tuple[list[Block], str | None]:
    return _text_lines_to_blocks(text.replace("\r\n", "\n").replace("\r", "\n").split("\n")), None


def _markdown_blocks(text: str) -> tuple[list[Block], str | None]:
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    blocks: list[Block] = []
    heading_level = 0
    row: list[str] = []
    in_cell = False
    for tok in tokens:
        if tok.type == "heading_open":
            heading_level = int(tok.tag[1])
        elif tok.type == "heading_close":
            heading_level = 0
        elif tok.type == "tr_open":
            row = []
        elif tok.type in ("th_open", "td_open"):
            in_cell = True
        elif tok.type in ("th_close", "td_close"):
            in_cell = False
        elif tok.type == "tr_close":
            blocks.append(Block(" | ".join(c for c in row if c)))
        elif tok.type == "inline":
            content = " ".join(tok.content.split())
            if in_cell:
                row.append(content)
            elif heading_level:
                blocks.append(Block(content, heading_level))
            elif content:
                blocks.append(Block(content))
        elif tok.type in ("fence", "code_block") and tok.content.strip():
            blocks.append(Block(tok.content.rstrip()))
    return blocks, None


def _html_blocks(html: str, meta: dict[str, Any]) -> tuple[list[Block], str | None]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    title = " ".join(soup.title.get_text().split()) if soup.title else None
    for junk in soup.find_all(["script", "style", "nav", "noscript", "template", "head"]):
        junk.decompose()
    blocks: list[Block] = []
    wanted = ("h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "tr", "blockquote", "dt", "dd", "caption")
    chosen = soup.find_all(wanted)
    ids = {id(el) for el in chosen}
    for el in chosen:
        if any(id(a) in ids for a in el.parents):
            continue
        if el.name == "tr":
            text = " | ".join(" ".join(c.get_text(" ").split()) for c in el.find_all(["td", "th"]))
        else:
            text = " ".join(el.get_text(" ").split())
        if not text.strip(" |"):
            continue
        level = int(el.name[1]) if re.fullmatch(r"h[1-6]", el.name) else 0
        blocks.append(Block(text, level))
    if not blocks:  # text without block markup
        body = soup.body or soup
        blocks = _text_lines_to_blocks(body.get_text("\n").split("\n"))
    return blocks, title or None


def _docx_blocks(data: bytes, source_path: str, meta: dict[str, Any]) -> tuple[list[Block], str | None]:
    import zipfile

    import docx
    from docx.document import Document as DocxDocument
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document: DocxDocument = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise MalformedSource(source_path, f"not a readable .docx file: {exc}") from exc
    except Exception as exc:  # lxml.etree.XMLSyntaxError inside a damaged package
        raise MalformedSource(source_path, f"not a readable .docx file: {exc!r}") from exc
    props_title = (document.core_properties.title or "").strip() or None
    blocks: list[Block] = []
    found_title: str | None = None
    body = document.element.body
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            para = Paragraph(child, document)
            text = " ".join(para.text.split())
            if not text:
                continue
            style = (para.style.name if para.style is not None else "") or ""
            m = re.match(r"(?i)heading\s*(\d)", style)
            if style.lower() == "title":
                found_title = found_title or text
                blocks.append(Block(text, 1))
            elif m:
                blocks.append(Block(text, min(int(m.group(1)) + 1, 6)))
            else:
                blocks.append(Block(text))
        elif tag == "tbl":
            for row in Table(child, document).rows:
                cells: list[str] = []
                for cell in row.cells:
                    t = " ".join(cell.text.split())
                    if t and (not cells or cells[-1] != t):  # merged cells repeat their text
                        cells.append(t)
                if cells:
                    blocks.append(Block(" | ".join(cells)))
    if not any(b.level == 1 for b in blocks):  # no Title style: promote headings one level
        blocks = [Block(b.text, max(1, b.level - 1) if b.level else 0, b.meta) for b in blocks]
    return blocks, props_title or found_title


def _pdf_blocks(data: bytes, source_path: str, meta: dict[str, Any]) -> tuple[list[Block], str | None]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise MalformedSource(source_path, "PDF is encrypted with a password")
        pages = [clean_pdf_text(page.extract_text() or "") for page in reader.pages]
    except MalformedSource:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise MalformedSource(source_path, f"not a readable PDF: {exc}") from exc
    except Exception as exc:  # pypdf raises assorted errors on damaged files
        raise MalformedSource(source_path, f"not a readable PDF: {exc!r}") from exc
    meta["pages"] = len(pages)
    info_title = None
    try:
        info_title = usable_title(reader.metadata.title) if reader.metadata else None
    except Exception:  # broken info dictionary: not fatal
        info_title = None
    outline_heads = _pdf_outline(reader)
    blocks: list[Block] = []
    for n, text in enumerate(pages, 1):
        for level, head in outline_heads.get(n, []):
            blocks.append(Block(head, level, {"page": n}))
        lines = text.replace("\r", "\n").split("\n")
        page_blocks = _text_lines_to_blocks(lines, page=n)
        if outline_heads:  # outline gives the structure; do not guess headings from lines as well
            page_blocks = [Block(b.text, 0, b.meta) for b in page_blocks]
        blocks.extend(page_blocks)
    return blocks, info_title


def _pdf_outline(reader: Any) -> dict[int, list[tuple[int, str]]]:
    heads: dict[int, list[tuple[int, str]]] = {}

    def walk(items: list[Any], level: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, level + 1)
                continue
            try:
                page = reader.get_destination_page_number(item) + 1
            except Exception:  # dangling destinations are common
                continue
            title = " ".join(clean_pdf_text(str(item.title)).split())
            heads.setdefault(page, []).append((min(level, 6), title))

    try:
        walk(list(reader.outline), 1)
    except Exception:  # an unreadable outline is not fatal
        return {}
    return heads


__all__ = ["DOCUMENT_SUFFIXES", "Block", "IngestError", "chunk_sections", "clean_pdf_text", "doc_key", "doc_name_key",
           "parse_document", "usable_title"]
