"""What ingest produces and the store keeps: documents made of retrievable units, each with a citation.

Parsers (``kb/ingest/*``) turn files into ``SourceDocument``s; the store persists them; search returns
``Unit``s; the citation verifier resolves ``Citation``s against stored units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

SourceKind = Literal["legislation", "judgment", "document"]


@dataclass(frozen=True)
class Citation:
    """A pointer to a provision, a judgment (paragraph) or a document chunk.

    Legislation: ``cap`` ("486", "32A"), ``section`` ("18", "35E"), ``subsection`` path
    (("1", "a") for s. 18(1)(a)), ``schedule`` ("1") for provisions inside a schedule.
    Judgment: ``neutral_citation`` ("[2025] HKCFI 4195") and optional ``paragraph`` (12).
    Document: ``doc_id``, optional ``section`` (a heading path) and ``page`` (PDF page).
    """

    kind: SourceKind
    cap: str | None = None
    section: str | None = None
    subsection: tuple[str, ...] = ()
    schedule: str | None = None
    neutral_citation: str | None = None
    paragraph: int | None = None
    doc_id: str | None = None
    lang: str | None = None  # "en" | "zh-Hant" | None (either)
    page: int | None = None  # document: the PDF page the unit is on

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "cap": self.cap,
            "section": self.section,
            "subsection": list(self.subsection),
            "schedule": self.schedule,
            "neutral_citation": self.neutral_citation,
            "paragraph": self.paragraph,
            "doc_id": self.doc_id,
            "lang": self.lang,
            **({"page": self.page} if self.page is not None else {}),
        }


@dataclass
class Unit:
    """One retrievable piece: a provision (section / schedule section), a judgment paragraph, a chunk."""

    key: str  # unique within its document, e.g. "s18", "sch1/s4", "para12", "chunk3"
    citation: Citation
    heading: str
    text: str
    lang: str
    ordinal: int  # order within the document
    align_key: str | None = None  # shared by the English and Chinese versions of one provision
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class SourceDocument:
    """One ingested source: a chapter in one language and version, a judgment, an uploaded document."""

    kind: SourceKind
    key: str  # stable identity across re-ingests, e.g. "cap:486:en", "judgment:[2025] HKCFI 4195"
    title: str
    lang: str
    version_date: date | None
    source_path: str
    content_sha256: str
    units: list[Unit] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)  # chapter titles, court, parties, cited authorities...
