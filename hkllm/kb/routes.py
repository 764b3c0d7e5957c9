"""Knowledge-base API (``/v1/kb``): a thin layer over ``hkllm.kb.service``.

Mount with ``app.include_router(hkllm.kb.routes.router)``. Self-contained: settings come from
``app.state.settings`` when the app has them, else ``get_settings()``; the API-key check is the app's
one ``require_api_key`` dependency; ``HkllmError``s propagate to the app's error envelope.

* ``GET  /v1/kb/search?q=...&k=5&mode=hybrid&kind=&cap=&lang=&collection=&version_date=&as_of=&all_versions=``
* ``GET  /v1/kb/units/{id}`` and ``GET /v1/kb/show?ref=Cap. 486 s. 18&lang=&version_date=``
* ``GET  /v1/kb/stats``
* ``POST /v1/kb/verify`` ``{"text": "...", "version_date": null}``
* ``POST /v1/kb/ingest?filename=cap486.zip&collection=default`` with the file as the raw request body
  (``application/octet-stream``; no multipart, so no extra dependency). At most ``kb_max_upload_bytes``;
  the upload is kept under ``<data dir>/kb/uploads/`` so the stored source path stays meaningful.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from hkllm.api.deps import require_api_key
from hkllm.errors import InvalidRequest, RequestTooLarge
from hkllm.kb import service
from hkllm.settings import Settings, get_settings


def kb_settings(request: Request) -> Settings:
    settings = getattr(request.app.state, "settings", None)
    return settings if isinstance(settings, Settings) else get_settings()


SettingsDep = Annotated[Settings, Depends(kb_settings)]
router = APIRouter(prefix="/v1/kb", tags=["knowledge base"], dependencies=[Depends(require_api_key)])


@router.get("/search")
def search(
    settings: SettingsDep,
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
    filters = service.make_filters(kind=kind, cap=cap, lang=lang, collection=collection,
                                   version_date=version_date, as_of=as_of, include_superseded=all_versions)
    result = service.search(q, k=k, mode=mode, filters=filters, settings=settings)
    return {"object": "list", "data": result.pop("hits"), **result}


@router.get("/units/{unit_id}")
def unit(unit_id: int, settings: SettingsDep) -> dict[str, Any]:
    return service.show(str(unit_id), settings=settings)["units"][0]


@router.get("/show")
def show(settings: SettingsDep, ref: Annotated[str, Query(min_length=1, max_length=300)],
         lang: str | None = None, version_date: str | None = None) -> dict[str, Any]:
    return service.show(ref, lang=lang, version_date=version_date, settings=settings)


@router.get("/stats")
def stats(settings: SettingsDep) -> dict[str, Any]:
    return service.stats(settings)


class VerifyRequest(BaseModel):
    text: str = Field(max_length=1_000_000)
    version_date: str | None = None


@router.post("/verify")
def verify(body: VerifyRequest, settings: SettingsDep) -> dict[str, Any]:
    return service.verify(body.text, version_date=body.version_date, settings=settings)


_SAFE_NAME = re.compile(r"[^A-Za-z0-9._\-\u3400-\u9fff]+")


def _safe_filename(name: str) -> str:
    base = Path(name.replace("\\", "/")).name
    clean = _SAFE_NAME.sub("_", base).strip("._") or "upload"
    return clean[:150]


@router.post("/ingest")
async def ingest(
    request: Request,
    settings: SettingsDep,
    filename: Annotated[str, Query(min_length=1, max_length=300)],
    collection: str = "default",
    force: bool = False,
) -> dict[str, Any]:
    limit = service.max_upload_bytes(settings)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"upload exceeds the limit of {limit} bytes (HKLLM_KB_MAX_UPLOAD_BYTES)")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestTooLarge(f"upload exceeds the limit of {limit} bytes (HKLLM_KB_MAX_UPLOAD_BYTES)")
    if not body:
        raise InvalidRequest("empty upload: send the file as the request body", param="body")
    digest = hashlib.sha256(body).hexdigest()
    folder = settings.data_dir / "kb" / "uploads" / digest[:16]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / _safe_filename(filename)
    path.write_bytes(bytes(body))
    report = await run_in_threadpool(service.ingest, [str(path)], settings=settings, collection=collection,
                                     force=force)
    return {"object": "kb.ingest", "sha256": digest, "filename": filename, **report.to_dict()}
