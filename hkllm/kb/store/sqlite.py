"""SQLite knowledge-base store: FTS5 ``bm25()`` over analysed text and brute-force cosine over an
in-memory float32 matrix of the stored embeddings (see ``store`` for the shared part)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import (
    LargeBinary,
    bindparam,
    func,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine

from hkllm.kb.store.base import KBStore
from hkllm.kb.store.records import (
    DF_SAMPLE,
    Analyzer,
    SearchFilters,
    UnitRef,
    canonical_lang,
    provision_key,
    rarest_terms,
)
from hkllm.kb.store.vectors import SCAN_THREADS, VectorIndex


class SQLiteKBStore(KBStore):
    """FTS5 BM25 plus brute-force cosine over an in-memory float32 matrix."""

    dialect = "sqlite"

    def __init__(self, engine: Engine, analyzer: Analyzer | None = None) -> None:
        super().__init__(engine, LargeBinary(), analyzer)
        self._dense: tuple[int, str, VectorIndex] | None = None  # (generation, model, index)
        self._df: tuple[int, Counter[str], float] | None = None  # (generation, sampled df, scale)
        self._dense_lock = threading.Lock()

    def _encode_vector(self, vec: np.ndarray) -> bytes:
        return np.asarray(vec, dtype="<f4").tobytes()

    def _decode_vector(self, value: Any) -> np.ndarray:
        return np.frombuffer(value, dtype="<f4").copy()

    def _df_estimate(self, conn: Connection) -> tuple[Counter[str], float]:
        """Document frequencies counted on a sample of at most ``DF_SAMPLE`` units (all of a small KB), and
        the factor to scale them by; rebuilt when the generation moves. (FTS5's own fts5vocab counts walk
        whole posting lists: 17 ms a query at 200k units, this costs microseconds after the first.)"""
        gen = self.generation()
        with self._dense_lock:
            if self._df is not None and self._df[0] == gen:
                return self._df[1], self._df[2]
            n = conn.execute(select(func.count()).select_from(self.units)).scalar_one()
            step = max(1, n // DF_SAMPLE)
            counts: Counter[str] = Counter()
            sampled = 0
            for (search_text,) in conn.execute(select(self.units.c.search_text).where(self.units.c.id % step == 0)):
                counts.update(set(search_text.split()))
                sampled += 1
            self._df = (gen, counts, n / sampled if sampled else 1.0)
            return counts, self._df[2]

    def _rarest(self, conn: Connection, terms: Sequence[str]) -> tuple[list[str], float, bool]:
        counts, scale = self._df_estimate(conn)
        return rarest_terms(terms, lambda t: counts.get(t, 0) * scale)

    def prune_terms(self, conn: Connection, terms: Sequence[str]) -> list[str]:
        """The terms kept under the postings budget (``records.rarest_terms``). bm25() scores every
        matching row, so on a big corpus one "data" or "资料" would cost more than all the rest of the
        query, while its idf is tiny; on a small corpus nothing is dropped. Terms the sample never saw
        count as rare and are kept."""
        return self._rarest(conn, terms)[0]

    def match_expression(self, conn: Connection, terms: Sequence[str]) -> str | None:
        """The FTS5 query: the OR of the kept terms, or their AND when even the rarest are over the
        budget (81 → 20 ms for one such question at 200k)."""
        kept, _, conjunctive = self._rarest(conn, terms)
        if not kept:
            return None
        return (" AND " if conjunctive else " OR ").join('"' + t.replace('"', '""') + '"' for t in kept)

    def bm25(self, terms: Sequence[str], filters: SearchFilters, limit: int) -> list[tuple[int, float]]:
        """FTS5 ``bm25()`` over the (pruned) terms (``match_expression``); scores positive, higher is better."""
        return self.bm25_refs(terms, filters, limit)[0]

    def bm25_refs(self, terms: Sequence[str], filters: SearchFilters,
                  limit: int) -> tuple[list[tuple[int, float]], dict[int, UnitRef]]:
        """``bm25`` with the refs of the units found. The full-text query runs alone (over-fetching),
        then one query checks the filters on the rows it returned and reads their refs; only when that
        leaves too few does the full-text query run again, joined with the filters."""
        with self.engine.connect() as conn:
            match = self.match_expression(conn, terms)
            if match is None:
                return [], {}
            fetch = limit * 3
            rows = conn.exec_driver_sql(
                "SELECT rowid, bm25(kb_unit_fts) AS s FROM kb_unit_fts WHERE kb_unit_fts MATCH ? "
                "ORDER BY s LIMIT ?", (match, fetch)).all()
            u = self.units.c
            clauses = self._filter_clauses(filters)
            refs = [UnitRef.from_row(r) for r in conn.execute(
                select(*self.ref_columns()).where(u.id.in_(bindparam("ids", expanding=True)), *clauses),
                {"ids": [r[0] for r in rows]})] if rows else []
            allowed = {ref.id: ref for ref in refs}
            found = [(int(r[0]), -float(r[1])) for r in rows if int(r[0]) in allowed][:limit]
            if len(found) < limit and len(rows) == fetch:  # selective filters: let SQLite join them in
                q = (select(u.id, text("bm25(kb_unit_fts) AS score"))
                     .select_from(text("kb_unit_fts")).join(self.units, text("kb_unit.id = kb_unit_fts.rowid"))
                     .where(text("kb_unit_fts MATCH :match"), *clauses).order_by(text("score")).limit(limit))
                found = [(int(r[0]), -float(r[1])) for r in conn.execute(q, {"match": match})]
                return found, self.unit_refs([i for i, _ in found])
        return found, {i: allowed[i] for i, _ in found}

    def _load_dense(self, model: str) -> VectorIndex:
        """The process-wide matrix of this model's vectors, reloaded when the store's generation moved."""
        gen = self.generation()
        with self._dense_lock:
            if self._dense is not None and self._dense[:2] == (gen, model):
                return self._dense[2]
            u = self.units.c
            with self.engine.connect() as conn:
                rows = conn.execute(select(u.id, u.document_id, u.is_current, u.embedding, u.kind, u.lang,
                                           u.collection, u.cap, u.align_key, u.version_date).where(
                    u.embed_model == model, u.embedding.is_not(None)).order_by(u.id)).all()
            groups = [provision_key(r[6], r[4], r[8], r[9]) for r in rows]
            index = VectorIndex.from_rows(rows, ("kind", "lang", "collection", "cap"), groups)
            self._dense = (gen, model, index)
            return index

    def dense(self, query_vec: np.ndarray, model: str, filters: SearchFilters, limit: int, *,
              query_lang: str | None = None, beside: bool = False) -> list[tuple[int, float]]:
        """Exact cosine top ``limit``. With ``query_lang`` (or a language filter) only that language's
        version of a bilingual provision is scanned (``vectors``): half the work on e-Legislation.
        ``beside``: another step (the full-text query) runs at the same time, so scan on one core."""
        index = self._load_dense(model)
        allowed = self.allowed_document_ids(filters)
        lang = canonical_lang(filters.lang)
        return index.search(
            query_vec, limit,
            equals={"kind": filters.kind, "collection": filters.collection,
                    "cap": filters.cap.upper() if filters.cap else None, "lang": lang},
            documents=allowed, current_only=allowed is None and not filters.include_superseded,
            view=lang or canonical_lang(query_lang), threads=1 if beside else SCAN_THREADS)

    def check_integrity(self) -> list[str]:
        problems = super().check_integrity()
        with self.engine.connect() as conn:
            result = conn.exec_driver_sql("PRAGMA integrity_check").scalar()
            if result != "ok":
                problems.append(f"sqlite integrity_check: {result}")
            try:
                conn.exec_driver_sql("INSERT INTO kb_unit_fts(kb_unit_fts) VALUES('integrity-check')")
            except Exception as exc:  # noqa: BLE001 - any failure is an integrity problem to report
                problems.append(f"full-text index: {exc}")
            conn.rollback()
        return problems
