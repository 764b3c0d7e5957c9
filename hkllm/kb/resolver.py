"""``StoreResolver``: citations resolved against the knowledge-base store (``citations.CitationResolver``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from hkllm.kb.citations import ResolvedSource, normalize_title
from hkllm.kb.store.base import KBStore
from hkllm.kb.store.records import SearchFilters, StoredDocument, canonical_lang
from hkllm.kb.types import Citation


class StoreResolver:
    """``hkllm.kb.citations.CitationResolver`` over the store (the database-backed resolver)."""

    def __init__(self, store: KBStore) -> None:
        self.store = store

    def title_index(self) -> dict[str, str]:
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

    def resolve(self, citation: Citation, *, version_date: date | None = None) -> ResolvedSource | None:
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
