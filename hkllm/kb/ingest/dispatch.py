"""Turn files into ``SourceDocument``s: which parser reads which source.

``parse_path(path)`` walks a file, a folder (recursively, sorted) or a ZIP archive (read in place, never
extracted) and yields, per source, either a ``SourceDocument`` or an ``IngestError`` naming the file and the
problem, so one bad file never stops a batch. Storage, transactions and the CLI live elsewhere; they can use
``discover()`` to size a progress bar and ``parse_item()`` to parse one source at a time.

Which parser runs is decided by the file's type (suffix, then a look at the content):
  * ``.xml`` -- official DoJ HKLM legislation (``hklm_xml``);
  * ``.htm/.html`` and ``.txt`` -- a Judiciary judgment when it looks like one, else an uploaded document;
  * ``.jsonl/.ndjson`` -- judgment records (one document per line, ``judgments``);
  * ``.pdf``, ``.docx``, ``.md/.markdown`` -- uploaded documents (``documents``);
  * ``.zip`` -- every member by the same rules.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator

from hkllm.kb.ingest.sources import (
    EmptySource,
    IngestError,
    SourceItem,
    UnsupportedFileType,
    decode_text,
    discover,
)
from hkllm.kb.types import SourceDocument

_JUDGMENT_HTML_MARK = re.compile(r"<(parties|coram)\b|legalref\.judiciary|/lrs/common", re.I)
_NEUTRAL = re.compile(r"\[(?:19|20)\d\d\]\s*HK(?:CFA|CA|CFI|DC|FC|LdT|LT|CT|MagC|MC|FamC|LBT|LaT|SCT|OAT|CC|CrC)\s+\d+")
_COURT_HEADER = re.compile(
    r"IN THE (?:HIGH COURT|COURT OF FINAL APPEAL|DISTRICT COURT|FAMILY COURT|LANDS TRIBUNAL|COMPETITION TRIBUNAL)"
    r"|終審法院|高等法院|區域法院|家事法庭|土地審裁處|原訟法庭|上訴法庭",
    re.I,
)


def looks_like_judgment(text: str) -> bool:
    head = text[:6000]
    return bool(_NEUTRAL.search(head) and _COURT_HEADER.search(head))


def parse_item(item: SourceItem) -> Iterator[SourceDocument | IngestError]:
    """Parse one source. Yields documents (a JSONL file may hold many) or errors; never raises IngestError."""
    from hkllm.kb.ingest import documents, hklm_xml, judgments  # the parsers load on first use

    try:
        suffix = item.suffix
        if suffix in (".doc", ".rtf", ".odt", ".ppt", ".pptx", ".xls", ".xlsx"):
            raise UnsupportedFileType(item.display, f"unsupported file type {suffix!r} (convert to .docx or .pdf)")
        handled = {".xml", ".htm", ".html", ".txt", ".jsonl", ".ndjson", *documents.DOCUMENT_SUFFIXES}
        if suffix not in handled:
            raise UnsupportedFileType(item.display, f"unsupported file type {suffix or '(no suffix)'!r}")
        data = item.read_bytes()
        if not data.strip():
            raise EmptySource(item.display, "file is empty")
        if suffix == ".xml":
            yield hklm_xml.parse_hklm_xml(data, source_path=item.display)
        elif suffix in (".jsonl", ".ndjson"):
            yield from judgments.parse_judgments_jsonl(data, source_path=item.display)
        elif suffix in (".htm", ".html"):
            text = decode_text(data, item.display)
            if _JUDGMENT_HTML_MARK.search(text[:20000]) or looks_like_judgment(_strip_tags(text[:60000])):
                yield judgments.parse_judgment_html(data, source_path=item.display)
            else:
                yield documents.parse_document(data, source_path=item.display, suffix=suffix)
        elif suffix == ".txt":
            text = decode_text(data, item.display, sniff_markup=False)
            if looks_like_judgment(text):
                yield judgments.parse_judgment_text(text, source_path=item.display, content=data)
            else:
                yield documents.parse_document(data, source_path=item.display, suffix=suffix)
        else:
            yield documents.parse_document(data, source_path=item.display, suffix=suffix)
    except IngestError as exc:
        yield exc


def _strip_tags(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


def parse_path(path: str | os.PathLike[str]) -> Iterator[SourceDocument | IngestError]:
    """Parse a file, a folder or a ZIP archive; one result per source (errors included, in order)."""
    for item in discover(path):
        if isinstance(item, IngestError):
            yield item
        else:
            yield from parse_item(item)


def parse_paths(paths: Iterable[str | os.PathLike[str]]) -> Iterator[SourceDocument | IngestError]:
    for path in paths:
        yield from parse_path(path)
