"""Knowledge-base API (``/v1/kb``): thin routes over the process's ``KnowledgeBase`` (``KBDep``).

* ``GET  /v1/kb/search?q=...&k=5&mode=hybrid&kind=&cap=&lang=&collection=&version_date=&as_of=&all_versions=``
* ``GET  /v1/kb/units/{id}`` and ``GET /v1/kb/show?ref=Cap. 486 s. 18&lang=&version_date=``
* ``GET  /v1/kb/stats``
* ``POST /v1/kb/verify`` ``{"text": "...", "version_date": null}``
* ``POST /v1/kb/ingest?collection=default&replace=false&include_metadata=false&force=false`` with the file(s)
  as ``multipart/form-data`` (field ``file``, repeatable: ``curl -F file=@guide.pdf``) or as the raw body
  (``application/octet-stream`` with ``?filename=cap486.zip``). At most ``kb_max_upload_bytes`` a request.
  200 when every file was ingested; 422 (error envelope plus the report with each file's outcome) when any
  file failed; 400 / 413 for a bad request, nothing stored. Files are kept under ``<data dir>/kb/uploads/``
  only while something stored comes from them; responses name them as the client did, never by server path.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from hkllm.api.deps import KBDep, require_api_key
from hkllm.errors import InvalidRequest, RequestTooLarge
from hkllm.kb.knowledge_base import MAX_VERIFY_CHARS, IngestFailed, Upload, make_filters

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


MULTIPART_SLACK_BYTES = 64 * 1024  # the form envelope around the files (boundaries, part headers)

INGEST_BODY: dict[str, Any] = {"requestBody": {
    "required": True,
    "description": "The file(s): multipart field `file` (repeatable), or the raw body with `?filename=`.",
    "content": {
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "array", "items": {"type": "string", "format": "binary"}}}}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    },
}}
INGEST_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Every file ingested (added, replaced or skipped as already stored)."},
    400: {"description": "Bad request (no file, empty file, bad parameter): nothing stored."},
    413: {"description": "Upload larger than HKLLM_KB_MAX_UPLOAD_BYTES: nothing stored."},
    422: {"description": "Some file or ZIP member could not be ingested: the error envelope and the report, "
                         "with each source's outcome (documents from the other files are stored whole)."},
}


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it passes ``limit`` (no Content-Length needed)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestTooLarge(f"upload exceeds the limit of {limit} bytes (HKLLM_KB_MAX_UPLOAD_BYTES)")
    return bytes(body)


async def _multipart_files(request: Request, body: bytes) -> list[Upload]:
    """The ``file`` parts of a multipart body (other fields are ignored)."""
    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    try:
        form = await MultiPartParser(request.headers, stream(), max_files=100, max_fields=100).parse()
    except MultiPartException as exc:
        raise InvalidRequest(f"malformed multipart body: {exc.message}", param="file") from exc
    try:
        uploads: list[Upload] = []
        for part in form.getlist("file"):
            if not isinstance(part, UploadFile):
                raise InvalidRequest("multipart field 'file' must be a file (curl -F file=@name.pdf)",
                                     param="file")
            uploads.append(Upload(part.filename or "upload", await part.read()))
        return uploads
    finally:
        await form.close()


@router.post("/ingest", openapi_extra=INGEST_BODY, responses=INGEST_RESPONSES)
async def ingest(
    request: Request,
    kb: KBDep,
    filename: Annotated[str | None, Query(min_length=1, max_length=300,
                                          description="The file's name, for a raw body.")] = None,
    collection: str = "default",
    force: bool = False,
    replace: Annotated[bool, Query(description="Replace the uploaded documents of the same name.")] = False,
    include_metadata: Annotated[bool, Query(description="Also ingest README / PROVENANCE files in ZIPs.")]
    = False,
) -> dict[str, Any]:
    multipart = request.headers.get("content-type", "").lower().startswith("multipart/form-data")
    limit = kb.max_upload_bytes + (MULTIPART_SLACK_BYTES if multipart else 0)
    declared = request.headers.get("content-length")
    kb.check_upload_size(int(declared) - (MULTIPART_SLACK_BYTES if multipart else 0)
                         if declared is not None and declared.isdigit() else None)
    body = await _read_body(request, limit)
    if multipart:
        uploads = await _multipart_files(request, body)
    elif filename is None:
        raise InvalidRequest("filename is required with a raw body (or send multipart/form-data field 'file')",
                             param="filename")
    else:
        uploads = [Upload(filename, body)]
    result = await run_in_threadpool(kb.ingest_uploads, uploads, collection=collection, force=force,
                                     replace=replace, include_metadata=include_metadata)
    if not result.ok:
        raise IngestFailed(result)
    return result.to_dict()
