"""The knowledge-base store: documents and their units, a full-text index and embeddings.

``KBStore`` (abstract) holds everything that is plain SQL, shared by both databases; ``sqlite.SQLiteKBStore``
adds FTS5 ``bm25()`` and dense search over an in-memory float32 matrix (``vectors``: loaded lazily, kept
per store, reloaded when another writer bumps the store's generation); ``pg.PgKBStore`` uses a
``tsvector`` GIN index and pgvector HNSW instead. ``open.open_store(db)`` picks one over the process's
one database engine. The records they exchange (``SearchFilters``, ``StoredUnit`` ...) are in
``records``, the tables in ``tables``.

Writes are one transaction per document: a document is stored with all its units or not at all. A
document is identified by (collection, key, version date): the same content again is skipped, new
content for the same version replaces it, and a newer version date makes older versions of the same
key "superseded" (``is_current`` false): hidden from search by default but still retrievable by
version date.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import (
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import Select
from sqlalchemy.types import TypeEngine

from hkllm.errors import InvalidRequest
from hkllm.kb.analyze import index_text
from hkllm.kb.embed.base import EMBED_DIM, passage_text, text_sha256
from hkllm.kb.store.records import (
    Analyzer,
    KBStats,
    PutResult,
    PutStatus,
    SearchFilters,
    StoredDocument,
    StoredUnit,
    UnitRef,
    as_date,
    canonical_lang,
    citation_from_json,
    in_chunks,
    jsonable,
    version_tag,
)
from hkllm.kb.store.tables import kb_tables
from hkllm.kb.types import Citation, SourceDocument

_PAGE_SUFFIX = re.compile(r"(?:^|,\s*)p\.\s*\d+$")

# -- the store ----------------------------------------------------------------------------------------


class KBStore(ABC):
    """Dialect-independent part. Subclasses implement ``bm25``, ``dense`` and the vector encoding."""

    dialect = "generic"

    def __init__(self, engine: Engine, vector_type: TypeEngine[Any], analyzer: Analyzer | None = None) -> None:
        """``engine`` is the process's database engine (``store.db.Database``); the store does not own it."""
        self.engine = engine
        self.state, self.docs, self.units = kb_tables(vector_type)
        self.analyzer: Analyzer = analyzer or index_text
        self._vector_models: tuple[int, dict[str, int]] | None = None  # (generation, counts)

    # generation: bumped by every write so per-process caches can tell they are stale -----------------
    def _bump_generation(self, conn: Connection) -> None:
        row = conn.execute(select(self.state.c.value).where(self.state.c.name == "generation")).first()
        if row is None:
            conn.execute(insert(self.state).values(name="generation", value="1"))
        else:
            conn.execute(update(self.state).where(self.state.c.name == "generation")
                         .values(value=str(int(row[0]) + 1)))

    def generation(self) -> int:
        with self.engine.connect() as conn:
            row = conn.execute(select(self.state.c.value).where(self.state.c.name == "generation")).first()
        return int(row[0]) if row else 0

    # writes --------------------------------------------------------------------------------------------
    def document_status(self, doc: SourceDocument, collection: str = "default") -> tuple[str, int | None]:
        """("new" | "same" | "changed", existing document id) for this (collection, key, version)."""
        d = self.docs.c
        with self.engine.connect() as conn:
            row = conn.execute(select(d.id, d.content_sha256).where(
                d.collection == collection, d.key == doc.key, d.version_tag == version_tag(doc.version_date),
            )).first()
        if row is None:
            return "new", None
        return ("same" if row[1] == doc.content_sha256 else "changed"), int(row[0])

    def cached_vectors(self, hashes: Sequence[str], model: str) -> dict[str, np.ndarray]:
        """Embeddings already stored for these passage hashes (any document) under ``model``."""
        u = self.units.c
        found: dict[str, np.ndarray] = {}
        wanted = sorted(set(hashes))
        with self.engine.connect() as conn:
            for part in in_chunks(wanted):
                rows = conn.execute(select(u.text_sha256, u.embedding).where(
                    u.embed_model == model, u.text_sha256.in_(list(part)), u.embedding.is_not(None),
                ).distinct())
                for h, vec in rows:
                    if vec is not None:
                        found[h] = self._decode_vector(vec)
        return found

    # vectors: which embedder made them; re-embedding ---------------------------------------------------
    def vector_models(self) -> dict[str, int]:
        """Units by the name of the embedder (backend) that made their vector, ``""`` for units with none;
        counted once per store generation (search reads it on every query, to say what dense left out)."""
        gen = self.generation()
        cached = self._vector_models
        if cached is not None and cached[0] == gen:
            return cached[1]
        u = self.units.c
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(self.units)).scalar_one()
            rows = conn.execute(select(u.embed_model, func.count()).where(
                u.embedding.is_not(None)).group_by(u.embed_model)).all()
        counts: dict[str, int] = {}
        for model, n in rows:
            counts[model or ""] = counts.get(model or "", 0) + int(n)
        missing = int(total) - sum(counts.values())
        if missing:
            counts[""] = counts.get("", 0) + missing
        self._vector_models = (gen, counts)
        return counts

    def _not_embedded_by(self, model: str) -> Any:
        u = self.units.c
        return or_(u.embedding.is_(None), u.embed_model.is_(None), u.embed_model != model)

    def count_units_to_embed(self, model: str) -> int:
        """Units whose vector was not made by ``model`` (or that have none)."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(self.units).where(
                self._not_embedded_by(model))).scalar_one())

    def units_to_embed(self, model: str, *, after_id: int = 0, limit: int = 256) -> list[tuple[int, str, str]]:
        """(id, heading, text) of the next ``limit`` units after ``after_id`` whose vector was not made by
        ``model``, in id order."""
        u = self.units.c
        q = (select(u.id, u.heading, u.text).where(u.id > after_id, self._not_embedded_by(model))
             .order_by(u.id).limit(limit))
        with self.engine.connect() as conn:
            return [(int(r[0]), r[1] or "", r[2] or "") for r in conn.execute(q)]

    def set_vectors(self, model: str, ids: Sequence[int], vectors: np.ndarray, hashes: Sequence[str]) -> None:
        """Store ``vectors`` (and passage hashes) as made by ``model`` for units ``ids``, in one transaction."""
        if vectors.shape != (len(ids), EMBED_DIM) or len(hashes) != len(ids):
            raise InvalidRequest(f"expected {len(ids)}x{EMBED_DIM} vectors and hashes, got {vectors.shape}")
        if not ids:
            return
        u = self.units.c
        stmt = update(self.units).where(u.id == bindparam("uid")).values(
            embedding=bindparam("vec"), embed_model=model, text_sha256=bindparam("sha"))
        with self.engine.begin() as conn:
            conn.execute(stmt, [{"uid": int(i), "vec": self._encode_vector(v), "sha": h}
                                for i, v, h in zip(ids, vectors, hashes, strict=True)])
            self._bump_generation(conn)

    def put_document(
        self,
        doc: SourceDocument,
        *,
        collection: str = "default",
        vectors: np.ndarray | None = None,
        model: str | None = None,
        passage_hashes: Sequence[str] | None = None,
        replace_same: bool = False,
        replace_keys: Sequence[str] = (),
    ) -> PutResult:
        """Store ``doc`` and its units in one transaction (see the module docstring for the rules).
        ``replace_keys``: other documents of the collection (every version) that this one replaces,
        deleted in the same transaction (an explicit replace of an uploaded document of the same name)."""
        if not doc.key:
            raise InvalidRequest("document has no key")
        if vectors is not None and (vectors.shape[0] != len(doc.units) or vectors.shape[1] != EMBED_DIM):
            raise InvalidRequest(f"expected {len(doc.units)}x{EMBED_DIM} vectors, got {vectors.shape}")
        if passage_hashes is None:
            passage_hashes = [text_sha256(passage_text(u.heading, u.text)) for u in doc.units]
        search_texts = [self.analyzer(f"{u.heading}\n{u.text}") for u in doc.units]
        tag = version_tag(doc.version_date)
        lang = canonical_lang(doc.lang) or ""
        d = self.docs.c
        with self.engine.begin() as conn:
            row = conn.execute(select(d.id, d.content_sha256).where(
                d.collection == collection, d.key == doc.key, d.version_tag == tag)).first()
            status: PutStatus = "added"
            others = [k for k in replace_keys if k != doc.key]
            replaced = [int(r[0]) for r in conn.execute(select(d.id).where(
                d.collection == collection, d.key.in_(others)))] if others else []
            if row is not None:
                if row[1] == doc.content_sha256 and not replace_same and not replaced:
                    return PutResult("skipped", int(row[0]), 0)
                replaced.append(int(row[0]))
            if replaced:
                conn.execute(delete(self.units).where(self.units.c.document_id.in_(replaced)))
                conn.execute(delete(self.docs).where(d.id.in_(replaced)))
                status = "replaced"
            doc_id = conn.execute(insert(self.docs).values(
                collection=collection, key=doc.key, kind=doc.kind, title=doc.title or doc.key, lang=lang,
                version_date=doc.version_date, version_tag=tag, source_path=doc.source_path,
                content_sha256=doc.content_sha256, is_current=False, unit_count=len(doc.units),
                meta=jsonable(doc.meta), ingested_at=datetime.now(UTC),
            ).returning(d.id)).scalar_one()
            rows = []
            for i, unit in enumerate(doc.units):
                cit = unit.citation
                rows.append({
                    "document_id": doc_id, "collection": collection, "kind": doc.kind,
                    "lang": canonical_lang(unit.lang) or lang, "is_current": False,
                    "version_date": doc.version_date, "ukey": unit.key, "ordinal": unit.ordinal,
                    "cap": cit.cap.upper() if cit.cap else None, "section": cit.section, "schedule": cit.schedule,
                    "neutral_citation": cit.neutral_citation, "paragraph": cit.paragraph,
                    "doc_ref": cit.doc_id, "citation": cit.to_dict(), "heading": unit.heading or "",
                    "text": unit.text, "align_key": unit.align_key, "meta": jsonable(unit.meta),
                    "search_text": search_texts[i], "text_sha256": passage_hashes[i],
                    "embed_model": model if vectors is not None else None,
                    "embedding": self._encode_vector(vectors[i]) if vectors is not None else None,
                })
            for part in in_chunks(rows, 1000):
                conn.execute(insert(self.units), list(part))
            superseded = self._refresh_current(conn, collection, doc.key)
            self._bump_generation(conn)
        return PutResult(status, int(doc_id), len(doc.units), superseded,
                         sorted(i for i in replaced if row is None or i != int(row[0])))

    def _refresh_current(self, conn: Connection, collection: str, key: str) -> list[int]:
        """Mark the latest version of (collection, key) current and the others superseded."""
        d = self.docs.c
        rows = conn.execute(select(d.id, d.version_tag, d.is_current).where(
            d.collection == collection, d.key == key)).all()
        latest = max(r[1] for r in rows)
        superseded: list[int] = []
        for doc_id, tag, was_current in rows:
            now = tag == latest
            if bool(was_current) != now:
                conn.execute(update(self.docs).where(d.id == doc_id).values(is_current=now))
                conn.execute(update(self.units).where(self.units.c.document_id == doc_id)
                             .values(is_current=now))
                if was_current and not now:
                    superseded.append(int(doc_id))
        return superseded

    def keys_named(self, collection: str, name_key: str) -> list[str]:
        """Keys in ``collection`` of the uploaded documents named ``name_key`` (``doc:readme``): the key
        itself (stored before documents carried their content hash) and ``doc:readme--<hash>``."""
        d = self.docs.c
        with self.engine.connect() as conn:
            keys = {str(r[0]) for r in conn.execute(select(d.key).distinct().where(
                d.collection == collection, d.kind == "document",
                or_(d.key == name_key, d.key.startswith(f"{name_key}--", autoescape=True))))}
        return sorted(k for k in keys if k == name_key or re.fullmatch(r"[0-9a-f]{12}", k[len(name_key) + 2:]))

    def delete_document(self, document_id: int) -> bool:
        d = self.docs.c
        with self.engine.begin() as conn:
            row = conn.execute(select(d.collection, d.key).where(d.id == document_id)).first()
            if row is None:
                return False
            conn.execute(delete(self.units).where(self.units.c.document_id == document_id))
            conn.execute(delete(self.docs).where(d.id == document_id))
            if conn.execute(select(func.count()).select_from(self.docs).where(
                    d.collection == row[0], d.key == row[1])).scalar_one():
                self._refresh_current(conn, row[0], row[1])
            self._bump_generation(conn)
        return True

    def reindex(self, analyzer: Analyzer | None = None, batch: int = 2000) -> int:
        """Recompute every unit's ``search_text`` (after the analyzer changed); returns units updated."""
        if analyzer is not None:
            self.analyzer = analyzer
        u = self.units.c
        done = 0
        with self.engine.begin() as conn:
            ids = [r[0] for r in conn.execute(select(u.id).order_by(u.id))]
            for part in in_chunks(ids, batch):
                rows = conn.execute(select(u.id, u.heading, u.text).where(u.id.in_(list(part)))).all()
                conn.execute(
                    update(self.units).where(u.id == bindparam("uid")).values(search_text=bindparam("st")),
                    [{"uid": r[0], "st": self.analyzer(f"{r[1]}\n{r[2]}")} for r in rows],
                )
                done += len(rows)
            self._bump_generation(conn)
        return done

    # reads ---------------------------------------------------------------------------------------------
    def _unit_query(self) -> Select[Any]:
        u, d = self.units.c, self.docs.c
        return select(u.id, u.document_id, d.key, d.title, u.collection, u.kind, u.ukey, u.citation,
                      u.heading, u.text, u.lang, u.ordinal, u.align_key, u.version_date, u.is_current,
                      u.meta).join_from(self.units, self.docs, u.document_id == d.id)

    @staticmethod
    def _unit_from_row(r: Any) -> StoredUnit:
        return StoredUnit(
            id=int(r[0]), document_id=int(r[1]), doc_key=r[2], doc_title=r[3], collection=r[4], kind=r[5],
            ukey=r[6], citation=citation_from_json(r[7] or {}), heading=r[8] or "", text=r[9], lang=r[10],
            ordinal=int(r[11]), align_key=r[12], version_date=as_date(r[13]), is_current=bool(r[14]),
            meta=r[15] or {},
        )

    def get_units(self, ids: Sequence[int]) -> list[StoredUnit]:
        """Units by id, in the order given (missing ids are left out)."""
        if not ids:
            return []
        found: dict[int, StoredUnit] = {}
        q = self._unit_query().where(self.units.c.id.in_(bindparam("ids", expanding=True)))
        with self.engine.connect() as conn:
            for part in in_chunks(list(ids)):
                for r in conn.execute(q, {"ids": list(part)}):
                    unit = self._unit_from_row(r)
                    found[unit.id] = unit
        return [found[i] for i in ids if i in found]

    def get_unit(self, unit_id: int) -> StoredUnit | None:
        units = self.get_units([unit_id])
        return units[0] if units else None

    def _filter_clauses(self, filters: SearchFilters) -> list[Any]:
        u = self.units.c
        clauses: list[Any] = []
        if filters.kind:
            clauses.append(u.kind == filters.kind)
        if filters.cap:
            clauses.append(u.cap == str(filters.cap).upper())
        if filters.collection:
            clauses.append(u.collection == filters.collection)
        if filters.lang:
            clauses.append(u.lang == canonical_lang(filters.lang))
        if filters.version_date is not None:
            clauses.append(u.version_date == filters.version_date)
        elif filters.as_of is not None:
            d1, d2 = self.docs.alias("d1").c, self.docs.alias("d2").c
            newer = select(d2.id).where(
                d2.collection == d1.collection, d2.key == d1.key, d2.version_date <= filters.as_of,
                d2.version_tag > d1.version_tag,
            ).exists()
            in_force = select(d1.id).where(
                ((d1.version_date <= filters.as_of) & ~newer) | (d1.version_date.is_(None) & d1.is_current)
            )
            clauses.append(u.document_id.in_(in_force))
        elif not filters.include_superseded:
            clauses.append(u.is_current.is_(True))
        return clauses

    def allowed_document_ids(self, filters: SearchFilters) -> set[int] | None:
        """Document ids allowed by the version filters, or None when only ``is_current`` matters."""
        if filters.version_date is None and filters.as_of is None:
            return None
        u = self.units.c
        q = select(u.document_id).distinct().where(*self._filter_clauses(filters.without_lang()))
        with self.engine.connect() as conn:
            return {int(r[0]) for r in conn.execute(q)}

    def ref_columns(self) -> tuple[Any, ...]:
        """The columns ``UnitRef.from_row`` reads."""
        u = self.units.c
        return u.id, u.collection, u.kind, u.align_key, u.version_date, u.lang

    def _refs(self, column: Any, values: Sequence[Any], *clauses: Any) -> list[UnitRef]:
        """Refs of the units whose ``column`` is one of ``values``. The list goes in as one expanding
        parameter, so the statement compiles once (a literal IN list costs SQLAlchemy ~5 µs an item)."""
        q = select(*self.ref_columns()).where(column.in_(bindparam("values", expanding=True)), *clauses)
        out: list[UnitRef] = []
        with self.engine.connect() as conn:
            for part in in_chunks(list(values)):
                out += [UnitRef.from_row(r) for r in conn.execute(q, {"values": list(part)}).all()]
        return out

    def unit_refs(self, ids: Sequence[int]) -> dict[int, UnitRef]:
        return {r.id: r for r in self._refs(self.units.c.id, ids)} if ids else {}

    def align_refs(self, align_keys: Sequence[str], filters: SearchFilters) -> list[UnitRef]:
        """Units sharing these align keys (every language) under the non-language filters."""
        if not align_keys:
            return []
        return self._refs(self.units.c.align_key, sorted(set(align_keys)),
                          *self._filter_clauses(filters.without_lang()))

    def _citation_clauses(self, citation: Citation, *, whole_source: bool = False) -> list[Any] | None:
        """WHERE clauses selecting the units ``citation`` names (its whole source when ``whole_source``);
        None when the citation cannot name anything stored."""
        u = self.units.c
        if citation.kind == "legislation":
            if not citation.cap:
                return None
            clauses: list[Any] = [u.kind == "legislation", u.cap == citation.cap.upper()]
            if whole_source:
                return clauses
            if not citation.section and not citation.schedule:
                return None
            if citation.section:
                clauses.append(func.upper(u.section) == citation.section.upper())
            clauses.append(u.schedule == citation.schedule if citation.schedule else u.schedule.is_(None))
        elif citation.kind == "judgment":
            if citation.neutral_citation:
                neutral = " ".join(citation.neutral_citation.upper().split())
                clauses = [u.kind == "judgment", func.upper(u.neutral_citation) == neutral]
            elif citation.doc_id:
                clauses = [u.kind == "judgment", u.doc_ref == citation.doc_id]
            else:
                return None
            if citation.paragraph is not None and not whole_source:
                clauses.append(u.paragraph == citation.paragraph)
        else:
            if not citation.doc_id:
                return None
            clauses = [u.kind == "document", u.doc_ref == citation.doc_id]
            section = _PAGE_SUFFIX.sub("", citation.section or "")  # "Scope, p. 3": the page is shown, not matched
            if section and not whole_source:
                clauses.append(u.section == section)
        return clauses

    def find_units(self, citation: Citation, filters: SearchFilters | None = None) -> list[StoredUnit]:
        """Units a citation points at, newest version first (subsections are not checked here)."""
        filters = filters or SearchFilters()
        clauses = self._citation_clauses(citation)
        if clauses is None:
            return []
        u = self.units.c
        if citation.lang and not filters.lang:
            clauses.append(u.lang == canonical_lang(citation.lang))
        q = self._unit_query().where(*clauses, *self._filter_clauses(filters))
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(u.version_date.desc(), u.lang, u.ordinal)).all()
        return [self._unit_from_row(r) for r in rows]

    def source_documents(self, citation: Citation, filters: SearchFilters | None = None) -> list[StoredDocument]:
        """The stored documents (every language / allowed version) of the source ``citation`` is in."""
        clauses = self._citation_clauses(citation, whole_source=True)
        if clauses is None:
            return []
        u = self.units.c
        filters = (filters or SearchFilters()).without_lang()
        with self.engine.connect() as conn:
            ids = [int(r[0]) for r in conn.execute(select(u.document_id).distinct().where(
                *clauses, *self._filter_clauses(filters)))]
        return self.list_documents(ids=ids) if ids else []

    def document_units(self, document_id: int, *, schedule: str | None = None,
                       with_text: bool = True) -> list[StoredUnit]:
        """A document's units in order (only one schedule's when ``schedule`` is given)."""
        u = self.units.c
        q = self._unit_query().where(u.document_id == document_id)
        if schedule is not None:
            q = q.where(u.schedule == schedule)
        with self.engine.connect() as conn:
            units = [self._unit_from_row(r) for r in conn.execute(q.order_by(u.ordinal))]
        if not with_text:
            for unit in units:
                unit.text = ""
        return units

    def get_document(self, document_id: int) -> StoredDocument | None:
        docs = self.list_documents(ids=[document_id])
        return docs[0] if docs else None

    def list_documents(self, *, ids: Sequence[int] | None = None, key: str | None = None,
                       collection: str | None = None) -> list[StoredDocument]:
        d = self.docs.c
        q = select(d.id, d.collection, d.key, d.kind, d.title, d.lang, d.version_date, d.source_path,
                   d.content_sha256, d.is_current, d.unit_count, d.ingested_at, d.meta).order_by(
            d.collection, d.key, d.version_tag)
        if ids is not None:
            q = q.where(d.id.in_(list(ids)))
        if key is not None:
            q = q.where(d.key == key)
        if collection is not None:
            q = q.where(d.collection == collection)
        with self.engine.connect() as conn:
            return [StoredDocument(int(r[0]), r[1], r[2], r[3], r[4], r[5], as_date(r[6]), r[7], r[8],
                                   bool(r[9]), int(r[10]), r[11], r[12] or {}) for r in conn.execute(q)]

    def stats(self) -> KBStats:
        d, u = self.docs.c, self.units.c
        with self.engine.connect() as conn:
            docs = conn.execute(select(d.kind, d.lang, d.is_current, func.count()).group_by(
                d.kind, d.lang, d.is_current)).all()
            units = conn.execute(select(u.kind, u.lang, u.is_current, func.count()).group_by(
                u.kind, u.lang, u.is_current)).all()
            embedded = conn.execute(select(u.embed_model, func.count()).where(
                u.embed_model.is_not(None)).group_by(u.embed_model)).all()
            collections = conn.execute(select(d.collection, func.count()).group_by(d.collection)).all()
        def table(rows: Sequence[Any]) -> list[dict[str, Any]]:
            return [{"kind": r[0], "lang": r[1], "current": bool(r[2]), "count": int(r[3])} for r in rows]
        return {
            "backend": self.dialect,
            "documents": sum(int(r[3]) for r in docs),
            "documents_current": sum(int(r[3]) for r in docs if r[2]),
            "units": sum(int(r[3]) for r in units),
            "units_current": sum(int(r[3]) for r in units if r[2]),
            "by_kind_lang": {"documents": table(docs), "units": table(units)},
            "embedded_units": {str(r[0]): int(r[1]) for r in embedded},
            "collections": {str(r[0]): int(r[1]) for r in collections},
            "generation": self.generation(),
        }

    def check_integrity(self) -> list[str]:
        """Problems found (empty when consistent): unit counts per document, dangling units."""
        d, u = self.docs.c, self.units.c
        problems: list[str] = []
        with self.engine.connect() as conn:
            counts = select(u.document_id, func.count().label("n")).group_by(u.document_id).subquery()
            for doc_id, expected, actual in conn.execute(
                select(d.id, d.unit_count, func.coalesce(counts.c.n, 0)).join_from(
                    self.docs, counts, counts.c.document_id == d.id, isouter=True)):
                if int(expected) != int(actual):
                    problems.append(f"document {doc_id}: {actual} units stored, {expected} expected")
            orphans = conn.execute(select(func.count()).select_from(self.units).where(
                ~u.document_id.in_(select(d.id)))).scalar_one()
            if orphans:
                problems.append(f"{orphans} units without a document")
            dup = conn.execute(select(d.collection, d.key, func.count()).where(d.is_current.is_(True))
                               .group_by(d.collection, d.key).having(func.count() > 1)).all()
            problems += [f"{r[1]} has {r[2]} current versions" for r in dup]
        return problems

    # search primitives (dialect-specific) ------------------------------------------------------------
    @abstractmethod
    def bm25(self, terms: Sequence[str], filters: SearchFilters, limit: int) -> list[tuple[int, float]]:
        """(unit id, score) best first for the OR (or, past the postings budget, AND) of ``terms``."""

    def bm25_refs(self, terms: Sequence[str], filters: SearchFilters,
                  limit: int) -> tuple[list[tuple[int, float]], dict[int, UnitRef]]:
        """``bm25`` and the refs of the units it found (what fusion needs); a store may read both at once."""
        found = self.bm25(terms, filters, limit)
        return found, self.unit_refs([i for i, _ in found])

    @abstractmethod
    def dense(self, query_vec: np.ndarray, model: str, filters: SearchFilters, limit: int, *,
              query_lang: str | None = None, beside: bool = False) -> list[tuple[int, float]]:
        """(unit id, cosine) best first. ``query_lang`` is a hint: a store may then scan only that
        language's version of a provision stored in several (search groups them into one anyway);
        ``beside`` says another search step runs at the same time (fewer threads for this one)."""

    @abstractmethod
    def _encode_vector(self, vec: np.ndarray) -> Any:
        """A vector as the database column takes it."""

    @abstractmethod
    def _decode_vector(self, value: Any) -> np.ndarray:
        """A stored vector back as float32."""
