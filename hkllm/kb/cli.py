"""``hkllm kb ingest|search|show|stats|verify|reindex|reembed``: the knowledge base from the command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from hkllm.errors import HkllmError

if TYPE_CHECKING:
    from hkllm.kb.knowledge_base import KnowledgeBase

app = typer.Typer(help="Knowledge base: ingest legislation, judgments and documents; search; verify citations.",
                  no_args_is_help=True, add_completion=False)

T = TypeVar("T")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


@contextmanager
def _knowledge_base() -> Iterator[KnowledgeBase]:
    """The knowledge base of the configured data dir, built as ``hkllm serve`` builds it."""
    from hkllm.runtime import build_runtime
    from hkllm.settings import load_settings

    runtime = _run(lambda: build_runtime(load_settings()))
    try:
        yield runtime.kb
    finally:
        runtime.close()


def _run(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except HkllmError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _warn(warnings: list[dict[str, str]]) -> None:
    """Warnings (search, stats, ingest) on stderr, so that ``--json`` output stays clean."""
    for warning in warnings:
        typer.echo(f"warning: {warning['message']}", err=True)


def _cite(citation: dict[str, Any]) -> str:
    from hkllm.kb.citations import format_citation
    from hkllm.kb.store.records import citation_from_json

    c = citation_from_json(citation)
    try:
        return format_citation(c, c.lang or "en")
    except Exception:  # noqa: BLE001 - display only
        return str({k: v for k, v in citation.items() if v})


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files, folders or ZIP archives.")],
    collection: Annotated[str, typer.Option(help="Collection to put the documents in.")] = "default",
    force: Annotated[bool, typer.Option(help="Re-store documents even when unchanged.")] = False,
    replace: Annotated[bool, typer.Option(
        help="Replace the uploaded documents of the same name in the collection (without it, a different "
             "file with the same name is a new document).")] = False,
    include_metadata: Annotated[bool, typer.Option(
        help="Also ingest README*, PROVENANCE* and similar files inside folders and ZIPs.")] = False,
    as_json: JsonOpt = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar (default: when stderr is a terminal).")]
    = sys.stderr.isatty(),
    pause_after_doc: Annotated[float, typer.Option(hidden=True, help="Sleep after each document (tests).")] = 0.0,
) -> None:
    """Parse and store documents: one transaction per document, a clear error per bad file, resumable."""
    def on_outcome(o: Any) -> None:
        if not as_json and not progress:
            typer.echo(f"{o.status:8} {o.source}: {o.message}", err=o.status == "error")

    with _knowledge_base() as kb:
        report = _run(lambda: kb.ingest([str(p) for p in paths], collection=collection, force=force,
                                        replace=replace, include_metadata=include_metadata,
                                        progress=progress and not as_json, pause_s=pause_after_doc,
                                        on_outcome=on_outcome))
    if as_json:
        _print_json(report.to_dict())
    else:
        _warn([w.to_dict() for w in report.warnings])
        if progress:
            for o in report.outcomes:
                if o.status == "error":
                    typer.echo(f"error    {o.source}: {o.message}", err=True)
        s = report.summary()
        typer.echo(f"{s['added']} added, {s['replaced']} replaced, {s['skipped']} skipped, {s['error']} failed; "
                   f"{s['units']} units stored, {s['embedded']} passages embedded in {report.seconds:.1f}s")
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="The question or keywords.")],
    k: Annotated[int, typer.Option("-k", "--top", help="Number of hits.")] = 5,
    mode: Annotated[str, typer.Option(help="hybrid, bm25 or dense.")] = "hybrid",
    kind: Annotated[str | None, typer.Option(help="legislation, judgment or document.")] = None,
    cap: Annotated[str | None, typer.Option(help="Chapter number, e.g. 486.")] = None,
    lang: Annotated[str | None, typer.Option(help="Show hits in en or zh-Hant.")] = None,
    collection: Annotated[str | None, typer.Option()] = None,
    version_date: Annotated[str | None, typer.Option(help="Only this version date (YYYY-MM-DD).")] = None,
    as_of: Annotated[str | None, typer.Option(help="The versions in force on this date.")] = None,
    all_versions: Annotated[bool, typer.Option(help="Include superseded versions.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Hybrid (BM25 + dense) search; --json prints a JSON list of hits."""
    from hkllm.kb.knowledge_base import make_filters

    with _knowledge_base() as kb:
        filters = _run(lambda: make_filters(kind=kind, cap=cap, lang=lang, collection=collection,
                                            version_date=version_date, as_of=as_of,
                                            include_superseded=all_versions))
        result = _run(lambda: kb.search(query, k=k, mode=mode, filters=filters).to_dict())
    _warn(result["warnings"])
    if as_json:
        _print_json(result["hits"])
        return
    if not result["hits"]:
        typer.echo("no hits")
    for hit in result["hits"]:
        text = " ".join(hit["text"].split())
        typer.echo(f"{hit['rank']}. {_cite(hit['citation'])}  {hit['heading']}  [{hit['lang']}, "
                   f"score {hit['score']:.4f}, unit {hit['unit_id']}]")
        typer.echo(f"   {text[:240]}{'…' if len(text) > 240 else ''}")


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="A unit id or a citation: 'Cap. 486 s. 18', '第486章第18條'.")],
    lang: Annotated[str | None, typer.Option(help="en or zh-Hant.")] = None,
    version_date: Annotated[str | None, typer.Option(help="The version in force on this date.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Print a stored provision / paragraph / chunk (any version)."""
    with _knowledge_base() as kb:
        result = _run(lambda: kb.show(ref, lang=lang, version_date=version_date).to_dict())
    if as_json:
        _print_json(result)
        return
    for unit in result.get("units", []):
        versions = ", ".join(f"{v['version_date']}{' (current)' if v['is_current'] else ''}"
                             for v in unit.get("versions", []))
        typer.echo(f"== {_cite(unit['citation'])}  {unit['heading']}  [{unit['lang']}, unit {unit['id']}]")
        typer.echo(f"   {unit['document_title']}, version {unit['version_date']}; versions: {versions}")
        typer.echo(unit["text"])
        typer.echo("")
    for doc in result.get("documents", []):
        typer.echo(f"== {doc['title']} ({doc['key']}, version {doc['version_date']}, {doc['unit_count']} units)")
        for item in doc["contents"]:
            typer.echo(f"   {item['key']:>12}  {item['heading']}  [unit {item['id']}]")


@app.command()
def stats(
    check: Annotated[bool, typer.Option(help="Also run the integrity checks.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Documents and units stored, by kind, language and version."""
    with _knowledge_base() as kb:
        result: dict[str, Any] = dict(_run(lambda: kb.stats(check=check)))
    if as_json:
        _print_json(result)
    else:
        typer.echo(f"backend {result['backend']}, embedder {result['embedder']} "
                   f"(vectors stored as {result['embed_model'] or 'none: BM25 only'})")
        typer.echo(f"documents: {result['documents']} ({result['documents_current']} current)")
        typer.echo(f"units: {result['units']} ({result['units_current']} current); "
                   f"embedded: {result['embedded_units']}")
        for d in result["documents_list"]:
            flag = "current" if d["is_current"] else "superseded"
            typer.echo(f"  [{d['id']}] {d['key']}  {d['version_date']}  {d['unit_count']} units  {flag}  "
                       f"({d['collection']})")
        _warn(result["warnings"])
        if check:
            problems = result["integrity_problems"]
            typer.echo("integrity: ok" if not problems else "integrity problems:\n  " + "\n  ".join(problems))
    if check and result["integrity_problems"]:
        raise typer.Exit(1)


@app.command()
def verify(
    file: Annotated[Path | None, typer.Option(help="Read the text from this file instead of stdin.")] = None,
    version_date: Annotated[str | None, typer.Option(help="Check against the versions in force then.")] = None,
    strict: Annotated[bool, typer.Option(help="Exit 1 when a citation does not resolve.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Find the citations in a text (stdin, or --file) and check each against the knowledge base."""
    if file is None and sys.stdin.isatty():  # otherwise it would wait silently for the text
        typer.echo("Type or paste the text to check, then press Ctrl-D on a new line (Ctrl-Z Enter on Windows):",
                   err=True)
    text = file.read_text(encoding="utf-8") if file else sys.stdin.read()
    with _knowledge_base() as kb:
        result = _run(lambda: kb.verify(text, version_date=version_date).to_dict())
    if as_json:
        _print_json(result["citations"])
    else:
        for item in result["citations"]:
            mark = "ok " if item["resolved"] else "BAD"
            typer.echo(f"{mark} {item['text']!r}: {item['status']} - {item['detail']}")
        typer.echo(f"{result['resolved']} resolved, {result['unresolved']} unresolved")
    if strict and result["unresolved"]:
        raise typer.Exit(1)


@app.command()
def reindex() -> None:
    """Rebuild the full-text index terms (after the search normaliser or segmenter changed)."""
    with _knowledge_base() as kb:
        count = _run(kb.reindex)
    typer.echo(f"reindexed {count} units")


@app.command()
def reembed(
    batch: Annotated[int, typer.Option(help="Units embedded and committed together.")] = 64,
    as_json: JsonOpt = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar (default: when stderr is a terminal).")]
    = sys.stderr.isatty(),
) -> None:
    """Give every unit a vector by the current embedder (after the index was built by another embedder or
    backend, or without one). Resumable: stop it at any time and run it again to carry on."""
    with _knowledge_base() as kb:
        try:
            report = _run(lambda: kb.reembed(progress=progress and not as_json, batch=batch))
        except KeyboardInterrupt:
            typer.echo("interrupted: the batches finished are kept; run `hkllm kb reembed` again to carry on",
                       err=True)
            raise typer.Exit(130) from None
    if as_json:
        _print_json(report.to_dict())
    else:
        typer.echo(f"{report.units} units needed a vector by {report.model}: {report.embedded} embedded, "
                   f"{report.reused} reused from the same passage, {report.left} left, in {report.seconds:.1f}s")
    if report.left:
        raise typer.Exit(1)
