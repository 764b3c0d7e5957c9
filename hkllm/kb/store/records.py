"""Plain records of the knowledge-base store: filters, stored units and documents, citations as JSON,
the full-text query budget and the store's typed error."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, NamedTuple, TypedDict

from hkllm.errors import HkllmError
from hkllm.kb.types import Citation

Analyzer = Callable[[str], str]
MAX_POSTINGS = 10_000  # full-text query budget (postings of the kept terms): see SQLiteKBStore.prune_terms
MIN_TERMS = 2
DF_SAMPLE = 10_000
PutStatus = Literal["added", "replaced", "skipped"]


class KBStoreError(HkllmError):
    """The knowledge-base store failed (database error, inconsistent state)."""

    status = 500
    type = "server_error"
    code = "kb_store"


# -- records ------------------------------------------------------------------------------------------


def canonical_lang(lang: str | None) -> str | None:
    """``en``, ``zh-Hant`` (any Traditional / HK / Cantonese tag) or ``zh-Hans``; others unchanged."""
    if not lang:
        return None
    low = lang.strip().lower().replace("_", "-")
    if low.startswith("en"):
        return "en"
    if low in ("zh-hans", "zh-cn", "zh-sg", "hans") or low.startswith("zh-hans"):
        return "zh-Hans"
    if low.startswith("zh") or low in ("yue", "hant"):
        return "zh-Hant"
    return lang


@dataclass
class SearchFilters:
    """Restrictions on what search (and citation resolution) may return.

    ``as_of`` selects, per document key, the latest version dated on or before that day;
    ``version_date`` an exact version; by default only current versions are searched.
    ``lang`` is applied after fusion (see ``search``), so a query in one language can land on the
    aligned provision in the other.
    """

    kind: str | None = None
    cap: str | None = None
    lang: str | None = None
    collection: str | None = None
    version_date: date | None = None
    as_of: date | None = None
    include_superseded: bool = False

    def without_lang(self) -> SearchFilters:
        return SearchFilters(self.kind, self.cap, None, self.collection, self.version_date, self.as_of,
                             self.include_superseded)


@dataclass
class StoredUnit:
    id: int
    document_id: int
    doc_key: str
    doc_title: str
    collection: str
    kind: str
    ukey: str
    citation: Citation
    heading: str
    text: str
    lang: str
    ordinal: int
    align_key: str | None
    version_date: date | None
    is_current: bool
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, *, with_text: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "document_id": self.document_id, "document_key": self.doc_key,
            "document_title": self.doc_title, "collection": self.collection, "kind": self.kind,
            "key": self.ukey, "citation": self.citation.to_dict(), "heading": self.heading,
            "lang": self.lang, "ordinal": self.ordinal, "align_key": self.align_key,
            "version_date": self.version_date.isoformat() if self.version_date else None,
            "is_current": self.is_current,
        }
        if with_text:
            out["text"] = self.text
        return out


class UnitRef(NamedTuple):
    """The few columns fusion needs (grouping by provision, picking a language)."""

    id: int
    collection: str
    kind: str
    align_key: str | None
    version_date: date | None
    lang: str

    @classmethod
    def from_row(cls, r: Any) -> UnitRef:
        """From a row of (id, collection, kind, align_key, version_date, lang): ``KBStore.ref_columns``."""
        return cls(int(r[0]), r[1], r[2], r[3], as_date(r[4]), r[5])


def provision_key(collection: str, kind: str, align_key: str | None,
                  version_date: date | None) -> tuple[Any, ...] | None:
    """Which provision a unit is a version of: units sharing it are its versions in other languages
    (fusion counts them as one, the dense index scans one per query language). None: it stands alone."""
    return ("a", collection, kind, align_key, version_date) if align_key else None


@dataclass
class StoredDocument:
    id: int
    collection: str
    key: str
    kind: str
    title: str
    lang: str
    version_date: date | None
    source_path: str
    content_sha256: str
    is_current: bool
    unit_count: int
    ingested_at: datetime
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "collection": self.collection, "key": self.key, "kind": self.kind,
            "title": self.title, "lang": self.lang,
            "version_date": self.version_date.isoformat() if self.version_date else None,
            "source_path": self.source_path, "content_sha256": self.content_sha256,
            "is_current": self.is_current, "unit_count": self.unit_count,
            "ingested_at": self.ingested_at.isoformat() if self.ingested_at else None,
        }


class KBStats(TypedDict, total=False):
    """What ``KBStore.stats`` counts; the knowledge base adds the embedder (its setting, the name its
    vectors are stored under, warnings when dense search cannot see every unit), the document list and,
    on request, the integrity problems."""

    backend: str
    documents: int
    documents_current: int
    units: int
    units_current: int
    by_kind_lang: dict[str, list[dict[str, Any]]]
    embedded_units: dict[str, int]
    collections: dict[str, int]
    generation: int
    embedder: str
    embed_model: str | None
    warnings: list[dict[str, str]]
    documents_list: list[dict[str, Any]]
    integrity_problems: list[str]


@dataclass
class PutResult:
    status: PutStatus
    document_id: int
    units: int
    superseded: list[int] = field(default_factory=list)  # document ids that stopped being current
    replaced: list[int] = field(default_factory=list)  # other documents deleted by an explicit replace


def rarest_terms(terms: Sequence[str], postings: Callable[[str], float]) -> tuple[list[str], float, bool]:
    """The full-text query budget, shared by both stores: keep the rarest terms until their postings
    would exceed ``MAX_POSTINGS`` (the ``MIN_TERMS`` rarest always stay; a term with no postings costs
    nothing and stays). Returns (kept terms, their postings, whether to AND them): when even the rarest
    are over the budget by themselves (a question made of words found everywhere), their AND matches
    and scores far fewer rows than their OR (Elasticsearch's "common terms" rule)."""
    kept: list[str] = []
    total, seen = 0.0, 0
    for term in sorted(dict.fromkeys(terms), key=postings):
        df = postings(term)
        if df and seen >= MIN_TERMS and total + df > MAX_POSTINGS:
            break
        kept.append(term)
        total += df
        seen += bool(df)
    return kept, total, len(kept) > 1 and total > MAX_POSTINGS


def version_tag(version_date: date | None) -> str:
    return version_date.isoformat() if version_date else ""


def citation_from_json(data: dict[str, Any]) -> Citation:
    return Citation(
        kind=data.get("kind", "document"), cap=data.get("cap"), section=data.get("section"),
        subsection=tuple(data.get("subsection") or ()), schedule=data.get("schedule"),
        neutral_citation=data.get("neutral_citation"), paragraph=data.get("paragraph"),
        doc_id=data.get("doc_id"), lang=data.get("lang"), page=data.get("page"),
    )


def as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def in_chunks(items: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def jsonable(value: Any) -> Any:
    """Meta as JSON: dates become ISO strings, tuples lists, unknown objects their str()."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
