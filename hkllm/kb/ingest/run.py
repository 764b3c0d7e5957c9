"""Ingest orchestration: files → parsers → embeddings → store, one transaction per document.

* Every source (file, folder member, ZIP member) gets an outcome: ``added``, ``replaced``, ``skipped``
  (the same content is already stored) or ``error`` with a clear message; a bad file never stops the
  batch and never touches what is already stored.
* An uploaded document's identity is its collection, name and content hash: a different file with the same
  name is a new document (the outcome says the namesake was kept, code ``same_name_kept``); ``replace``
  deletes the namesakes in the same transaction and lists them in ``replaced``.
* Idempotent and resumable: a document is stored whole or not at all, and a rerun skips what is already
  there by (collection, key, version date, content SHA-256). After a crash or ``kill -9`` the next run
  simply carries on.
* Embeddings are computed before the write transaction (so it stays short), reusing any vector already
  stored for the same passage text and model (a re-ingested or new version of a chapter re-embeds only
  the provisions that changed).
* A rich progress bar (on stderr) shows sources and passages embedded.
* Vectors are stored under the embedder's ``name``, which names its backend. When a run stores vectors
  into a knowledge base that also holds another embedder's (or backend's) vectors, or units without any,
  the report says so in ``warnings`` (dense search compares a query only with its own embedder's
  vectors); ``reembed_units`` (``hkllm kb reembed``) gives every unit a vector by the current embedder,
  batch by batch, resumable.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from hkllm.kb.embed.base import Embedder, ProgressFn, passage_text, text_sha256
from hkllm.kb.search import SearchWarning, vector_warnings
from hkllm.kb.store.base import KBStore
from hkllm.kb.types import SourceDocument

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What happened to one source document (or a source that produced none)."""

    source: str
    status: str  # added | replaced | skipped | error
    message: str = ""
    code: str | None = None
    document_key: str | None = None
    document_id: int | None = None
    version_date: str | None = None
    units: int = 0
    embedded: int = 0  # passages embedded now (the rest came from the cache)
    superseded: list[int] = field(default_factory=list)
    replaced: list[int] = field(default_factory=list)  # same-name documents an explicit replace deleted
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class IngestReport:
    outcomes: list[Outcome] = field(default_factory=list)
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    seconds: float = 0.0
    # after a run that stored vectors: what dense search with this embedder cannot see (``vector_warnings``)
    warnings: list[SearchWarning] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def ok(self) -> bool:
        return self.count("error") == 0

    def summary(self) -> dict[str, int]:
        return {s: self.count(s) for s in ("added", "replaced", "skipped", "error")} | {
            "units": sum(o.units for o in self.outcomes if o.status in ("added", "replaced")),
            "embedded": sum(o.embedded for o in self.outcomes),
        }

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "seconds": round(self.seconds, 3), "started_at": self.started_at,
                "warnings": [w.to_dict() for w in self.warnings], "outcomes": [o.to_dict() for o in self.outcomes]}

    def check_vectors(self, store: KBStore, embedder: Embedder | None) -> None:
        """After a run that stored vectors, warn when the store also holds vectors dense search with this
        embedder never sees (another embedder's or backend's), or units with none."""
        if embedder is None or not any(o.status in ("added", "replaced") for o in self.outcomes):
            return
        self.warnings = vector_warnings(store, embedder.name)
        for warning in self.warnings:
            log.warning("%s", warning.message)


EventFn = Callable[[Outcome], None]


def _progress_bar() -> Any:
    """A rich progress display on stderr (entered by the caller)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), TextColumn("{task.fields[item]}", style="dim"),
        console=Console(stderr=True), transient=False,
    )


class _Progress:
    """A rich progress bar on stderr, or nothing."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None
        self.files = self.passages = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            self._progress = _progress_bar()
            self._progress.__enter__()
            self.files = self._progress.add_task("sources ", total=None, item="")
            self.passages = self._progress.add_task("embedding", total=0, item="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def set_files(self, total: int) -> None:
        if self._progress is not None:
            self._progress.update(self.files, total=total)

    def file_done(self, name: str) -> None:
        if self._progress is not None:
            self._progress.update(self.files, advance=1, item=_short(name))

    def add_passages(self, n: int, name: str) -> None:
        if self._progress is not None:
            task = self._progress.tasks[self.passages]
            self._progress.update(self.passages, total=(task.total or 0) + n, item=_short(name))

    def passages_done(self, n: int) -> None:
        if self._progress is not None:
            self._progress.update(self.passages, advance=n)


def _short(name: str, width: int = 48) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1):]


def embed_cached(passages: Sequence[str], hashes: Sequence[str], store: KBStore, embedder: Embedder,
                 progress: ProgressFn | None = None) -> tuple[np.ndarray, int]:
    """Vectors for ``passages``, reusing any the store holds for the same passage hash under this
    embedder's name; and how many were computed."""
    cached = store.cached_vectors(hashes, embedder.name)
    vectors = np.zeros((len(passages), embedder.dim), dtype=np.float32)
    missing = [i for i, h in enumerate(hashes) if h not in cached]
    for i, h in enumerate(hashes):
        if h in cached:
            vectors[i] = cached[h]
    if missing:
        fresh = embedder.embed_passages([passages[i] for i in missing], progress=progress)
        vectors[missing] = fresh
    return vectors, len(missing)


def embed_document(doc: SourceDocument, store: KBStore, embedder: Embedder,
                   progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, list[str], int]:
    """Vectors for every unit (cached ones reused), their passage hashes, and how many were computed."""
    passages = [passage_text(u.heading, u.text) for u in doc.units]
    hashes = [text_sha256(p) for p in passages]
    vectors, computed = embed_cached(passages, hashes, store, embedder, progress)
    return vectors, hashes, computed


def same_name_keys(doc: SourceDocument, store: KBStore, collection: str) -> list[str]:
    """Keys of the other uploaded documents in ``collection`` with ``doc``'s name (not legislation or
    judgments: their identity is their official one)."""
    if doc.kind != "document":
        return []
    from hkllm.kb.ingest.documents import doc_name_key

    return [k for k in store.keys_named(collection, doc_name_key(doc.key)) if k != doc.key]


def ingest_document(doc: SourceDocument, store: KBStore, embedder: Embedder | None, *,
                    collection: str = "default", force: bool = False, replace: bool = False,
                    progress: _Progress | None = None) -> Outcome:
    """Store one parsed document (embedding it first); never raises for a bad document. With ``replace``,
    the other uploaded documents of the same name in the collection are deleted in the same transaction
    (reported in ``replaced``); without it they stay, and the message says so."""
    started = time.perf_counter()
    out = Outcome(source=doc.source_path, status="error", document_key=doc.key,
                  version_date=doc.version_date.isoformat() if doc.version_date else None)
    try:
        if not doc.units:
            out.code, out.message = "no_units", "no retrievable text found in the document"
            return out
        namesakes = same_name_keys(doc, store, collection)
        state, existing = store.document_status(doc, collection)
        if state == "same" and not force and not (replace and namesakes):
            stored = store.get_document(existing) if existing is not None else None
            when = f", stored {stored.ingested_at:%Y-%m-%d %H:%M}" if stored and stored.ingested_at else ""
            out.status, out.document_id, out.code = "skipped", existing, "already_ingested"
            out.message = (f"already ingested: {doc.key} version {out.version_date or '(undated)'} "
                           f"with the same content (sha256 {doc.content_sha256[:12]}…{when})")
            return out
        vectors = hashes = None
        if embedder is not None:
            if progress is not None:
                progress.add_passages(len(doc.units), doc.source_path)
            vectors, hashes, out.embedded = embed_document(
                doc, store, embedder, progress.passages_done if progress is not None else None)
            if progress is not None:  # cached passages count as done
                progress.passages_done(len(doc.units) - out.embedded)
        result = store.put_document(doc, collection=collection, vectors=vectors,
                                    model=embedder.name if embedder is not None else None,
                                    passage_hashes=hashes, replace_same=force,
                                    replace_keys=namesakes if replace else ())
        out.status, out.document_id, out.units, out.superseded, out.replaced = (
            result.status, result.document_id, result.units, result.superseded, result.replaced)
        if result.status == "skipped":  # another writer stored it meanwhile
            out.code, out.message = "already_ingested", f"already ingested: {doc.key}"
        else:
            note = f"; superseded document(s) {result.superseded}" if result.superseded else ""
            if result.replaced:
                note += f"; replaced {len(result.replaced)} document(s) of the same name {result.replaced}"
            elif namesakes and not replace:
                note += (f"; {len(namesakes)} other document(s) of the same name kept "
                         f"({', '.join(namesakes)}): replace them explicitly with replace")
                out.code = "same_name_kept"
            out.message = f"{result.status} {doc.key} ({result.units} units){note}"
    except Exception as exc:  # noqa: BLE001 - one bad document must not stop the batch
        out.status, out.code = "error", getattr(exc, "code", None) or type(exc).__name__
        out.message = f"could not store {doc.key}: {exc}"
    finally:
        out.seconds = round(time.perf_counter() - started, 3)
    return out


def run_ingest(
    store: KBStore,
    paths: Sequence[str | os.PathLike[str]],
    *,
    embedder: Embedder | None,
    collection: str = "default",
    force: bool = False,
    replace: bool = False,
    include_metadata: bool = False,
    progress: bool = False,
    on_outcome: EventFn | None = None,
    pause_s: float = 0.0,
) -> IngestReport:
    """Ingest files, folders and ZIP archives; see the module docstring. ``replace``: an uploaded document
    replaces the others of its name (``ingest_document``); ``include_metadata``: read README / PROVENANCE
    files inside folders and ZIPs too (``sources.discover``). ``pause_s`` sleeps after each document (used
    by the crash test to kill a run mid-batch)."""
    from hkllm.kb.ingest.dispatch import parse_item
    from hkllm.kb.ingest.sources import IngestError, NothingToIngest, SourceItem, discover

    report = IngestReport()
    started = time.perf_counter()

    def record(outcome: Outcome) -> None:
        report.outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    def error(source: str, exc: BaseException) -> Outcome:
        code = getattr(exc, "code", None) or type(exc).__name__
        message = getattr(exc, "problem", None) or str(exc)
        return Outcome(source=source, status="error", code=code, message=message)

    items: list[Any] = []
    for path in paths:
        try:
            found = list(discover(Path(path), include_metadata=include_metadata))
        except Exception as exc:  # noqa: BLE001 - report and go on with the other paths
            found = [IngestError(str(path), f"cannot list: {exc}")]
        items.extend(found or [NothingToIngest(str(path), "nothing to ingest here (README, PROVENANCE and "
                                                          "similar files are skipped unless include_metadata)")])
    with _Progress(progress) as bar:
        bar.set_files(len(items))
        for item in items:
            if isinstance(item, IngestError):
                record(error(item.path, item))
                bar.file_done(item.path)
                continue
            assert isinstance(item, SourceItem)
            produced = False
            try:
                for result in parse_item(item):
                    produced = True
                    if isinstance(result, IngestError):
                        record(error(result.path, result))
                        continue
                    record(ingest_document(result, store, embedder, collection=collection, force=force,
                                           replace=replace, progress=bar))
                    if pause_s > 0:
                        time.sleep(pause_s)
            except Exception as exc:  # noqa: BLE001 - a parser bug: report it against this file
                record(error(item.display, exc))
                produced = True
            if not produced:
                record(Outcome(source=item.display, status="error", code="no_documents",
                               message="the parser found no documents in this file"))
            bar.file_done(item.display)
    report.check_vectors(store, embedder)
    report.seconds = time.perf_counter() - started
    return report


def ingest_documents(store: KBStore, docs: Iterable[SourceDocument], *, embedder: Embedder | None,
                     collection: str = "default", force: bool = False) -> IngestReport:
    """Ingest already-parsed documents (tests, benches, programmatic use)."""
    report = IngestReport()
    started = time.perf_counter()
    for doc in docs:
        report.outcomes.append(ingest_document(doc, store, embedder, collection=collection, force=force))
    report.check_vectors(store, embedder)
    report.seconds = time.perf_counter() - started
    return report


# -- re-embedding -----------------------------------------------------------------------------------------

REEMBED_BATCH = 64


@dataclass
class ReembedReport:
    """What ``reembed_units`` did: ``units`` lacked a vector by ``model`` at the start; ``embedded`` were
    computed, ``reused`` copied from units with the same passage; ``left`` still lack one (an interrupted
    run, or units stored meanwhile by another embedder)."""

    model: str
    units: int
    embedded: int = 0
    reused: int = 0
    left: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"object": "kb.reembed", "model": self.model, "units": self.units, "embedded": self.embedded,
                "reused": self.reused, "left": self.left, "seconds": round(self.seconds, 3)}


def reembed_units(store: KBStore, embedder: Embedder, *, batch: int = REEMBED_BATCH,
                  progress: bool = False) -> ReembedReport:
    """Give every unit a vector made by ``embedder`` (its backend, as its ``name`` says): units whose vector
    another embedder or backend made, and units with none. Batch by batch in id order, each batch one
    transaction, so an interrupted run keeps what it finished and the next run carries on (it picks the units
    that still lack one). A rich progress bar on stderr with ``progress``."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    started = time.perf_counter()
    model = embedder.name
    report = ReembedReport(model, store.count_units_to_embed(model))
    bar = _progress_bar() if progress and report.units else None
    advance: ProgressFn | None = None
    if bar is not None:
        task = bar.add_task("re-embedding", total=report.units, item=model)

        def advance(n: int) -> None:
            bar.update(task, advance=n)

        bar.__enter__()
    try:
        after = 0
        while rows := store.units_to_embed(model, after_id=after, limit=batch):
            passages = [passage_text(heading, text) for _, heading, text in rows]
            hashes = [text_sha256(p) for p in passages]
            vectors, computed = embed_cached(passages, hashes, store, embedder, advance)
            store.set_vectors(model, [r[0] for r in rows], vectors, hashes)
            report.embedded += computed
            report.reused += len(rows) - computed
            after = rows[-1][0]
            if advance is not None:
                advance(len(rows) - computed)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    report.left = store.count_units_to_embed(model)
    report.seconds = time.perf_counter() - started
    return report
