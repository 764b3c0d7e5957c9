"""POST /v1/embeddings: OpenAI-style embeddings from the knowledge base's own embedder (so a client such as
Open WebUI can use hkllm for its retrieval too). Thin: parse, embed in a worker thread, map."""

from __future__ import annotations

import asyncio
import base64
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from hkllm.api.deps import EmbedderDep, require_api_key
from hkllm.errors import InvalidRequest, ModelNotFound
from hkllm.kb.embed.base import MAX_PASSAGE_CHARS

router = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)])
MAX_INPUTS = 2048  # OpenAI's own limit on inputs per request


class EmbeddingRequest(BaseModel):
    """An OpenAI embeddings request: ``input`` a string or a list of strings (token-id inputs are refused)."""

    model_config = ConfigDict(extra="ignore")

    input: str | list[str] = Field(description="Text, or a list of texts, to embed")
    model: str | None = Field(None, description="The embedder's name (GET /v1/kb/stats: embed_model); any "
                                                "other name is refused")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)
    user: str | None = None


def _texts(request: EmbeddingRequest) -> list[str]:
    texts = [request.input] if isinstance(request.input, str) else request.input
    if not texts or len(texts) > MAX_INPUTS:
        raise InvalidRequest(f"input must hold 1 to {MAX_INPUTS} texts", param="input")
    if any(not text for text in texts):
        raise InvalidRequest("input must not hold an empty string", param="input")
    return texts


def _encoded(vector: np.ndarray, encoding: str) -> list[float] | str:
    if encoding == "base64":  # as OpenAI: little-endian float32 bytes, base64
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return [float(x) for x in vector]


@router.post("/embeddings")
async def create_embeddings(body: EmbeddingRequest, embedder: EmbedderDep) -> dict[str, Any]:
    texts = _texts(body)
    name = await asyncio.to_thread(lambda: embedder.name)  # reading it may load the model
    if body.model not in (None, name):
        raise ModelNotFound(f"The embedding model '{body.model}' does not exist; available: {name}", param="model")
    if body.dimensions is not None and body.dimensions != embedder.dim:
        raise InvalidRequest(f"dimensions must be {embedder.dim} (the embedder's own)", param="dimensions")
    vectors = await asyncio.to_thread(embedder.embed_passages, texts)
    # The embedder offers no token count: usage counts the characters embedded (each text's first
    # MAX_PASSAGE_CHARS; the rest is not embedded).
    used = sum(min(len(text), MAX_PASSAGE_CHARS) for text in texts)
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": _encoded(vector, body.encoding_format)}
                 for i, vector in enumerate(vectors)],
        "model": name,
        "usage": {"prompt_tokens": used, "total_tokens": used},
    }
