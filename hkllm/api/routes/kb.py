"""Knowledge-base API (``/v1/kb``): thin routes over the process's ``KnowledgeBase`` (``KBDep``).

* ``GET  /v1/kb/search?q=...&k=5&mode=hybrid&kind=&cap=&lang=&collection=&version_date=&as_of=&all_versions=``
* ``GET  /v1/kb/units/{id}`` and ``GET /v1/kb/show?ref=Cap. 486 s. 18&lang=&version_date=``
* ``GET  /v1/kb/stats``
* ``POST /v1/kb/verify`` ``{"text": "...", "version_date": null}``
* ``POST /v1/kb/ingest?filename=cap486.zip&collection=default`` with the file as the raw request body
  (``application/octet-stream``). At most ``kb_max_upload_bytes``; the upload is kept under
  ``<data dir>/kb/uploads/`` so the stored source path stays meaningful.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from hkllm.api.deps import KBDep, require_api_key
from hkllm.errors import RequestTooLarge
from hkllm.kb.knowledge_base import MAX_VERIFY_CHARS, make_filters

INGEST_PATH = "/v1/kb/ingest"
router = APIRouter(prefix="/v1/kb", tags=["knowledge base"], dependencies=[Depends(require_api_key)])


@router.get("/search")
def search(
    kb: KBDep,
    q: Annotated[str, Query(min_length=1, max_length=2000)],
    k: Annotated[int, Query(ge=1, le=100)] = 5,
    mode: str = "hybrid",
    kind: str | None = None,
    cap: str | None = None,
    lang: str | None = None,
    collection: str | None = None,
    version_date: str | None = None,
    as_of: str | None = None,
    all_versions: bool = False,
) -> dict[str, Any]:
    filters = make_filters(kind=kind, cap=cap, lang=lang, collection=collection, version_date=version_date,
                           as_of=as_of, include_superseded=all_versions)
    result = kb.search(q, k=k, mode=mode, filters=filters).to_dict()
    return {"object": "list", "data": result.pop("hits"), **result}


@router.get("/units/{unit_id}")
def unit(unit_id: int, kb: KBDep) -> dict[str, Any]:
    return kb.show(str(unit_id)).units[0].to_dict()


@router.get("/show")
def show(kb: KBDep, ref: Annotated[str, Query(min_length=1, max_length=300)],
         lang: str | None = None, version_date: str | None = None) -> dict[str, Any]:
    return kb.show(ref, lang=lang, version_date=version_date).to_dict()


@router.get("/stats")
def stats(kb: KBDep) -> dict[str, Any]:
    return dict(kb.stats())


class VerifyRequest(BaseModel):
    text: str = Field(max_length=MAX_VERIFY_CHARS)
    version_date: str | None = None


@router.post("/verify")
def verify(body: VerifyRequest, kb: KBDep) -> dict[str, Any]:
    return kb.verify(body.text, version_date=body.version_date).to_dict()


@router.post("/ingest")
async def ingest(
    request: Request,
    kb: KBDep,
    filename: Annotated[str, Query(min_length=1, max_length=300)],
    collection: str = "default",
    force: bool = False,
) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    kb.check_upload_size(int(declared) if declared is not None and declared.isdigit() else None)
    body = bytearray()
    async for chunk in request.stream():  # counted as it arrives: no Content-Length needed
        body += chunk
        if len(body) > kb.max_upload_bytes:
            raise RequestTooLarge(f"upload exceeds the limit of {kb.max_upload_bytes} bytes "
                                  "(HKLLM_KB_MAX_UPLOAD_BYTES)")
    result = await run_in_threadpool(kb.ingest_upload, filename, bytes(body), collection=collection, force=force)
    return result.to_dict()
