"""``HashEmbedder``: deterministic character n-gram feature hashing, ``EMBED_DIM`` wide, no model.

Instant, for tests and for machines where a real model is unwanted (its "semantics" are only shared
characters).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

import numpy as np

from hkllm.kb.embed.base import EMBED_DIM, MAX_PASSAGE_CHARS, ProgressFn, normalise_rows


class HashEmbedder:
    """Deterministic character 1-3-gram feature hashing into ``dim`` signed buckets (no model)."""

    name = "hash-ngram-384"
    dim = EMBED_DIM
    query_cores = 1

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
        return normalise_rows(out)

    def embed_query(self, text: str) -> np.ndarray:
        return normalise_rows(self._vector(text[:MAX_PASSAGE_CHARS]))
