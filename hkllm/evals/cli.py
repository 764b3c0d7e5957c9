"""``hkllm eval``: list tasks, run them (resumable), list runs, write the HTML report."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from hkllm.engine import Engine
from hkllm.errors import HkllmError
from hkllm.evals import store
from hkllm.evals.report import write_report
from hkllm.evals.runner import DEFAULT_TIMEOUT_S, RunSummary, check_engine, resolve_engine, run_task
from hkllm.evals.task import all_tasks, parse_task_list
from hkllm.settings import load_settings
from hkllm.store.db import Database

app = typer.Typer(help="Evaluate models on Cantonese / Hong Kong benchmarks.", no_args_is_help=True)
err = Console(stderr=True)
out = Console()


def _fail(exc: HkllmError) -> typer.Exit:
    err.print(f"[bold red]error:[/] {exc.message}", highlight=False)
    return typer.Exit(code=2)


@app.command("list")
def list_tasks() -> None:
    """Print the task ids (one per line, then a short description)."""
    for task in all_tasks():
        data = "needs --data-dir" if task.needs_data else "no data files"
        typer.echo(f"{task.id}\t{task.title}\t[{task.metric}; {data}]")


@app.command("run")
def run(
    tasks: Annotated[list[str], typer.Option("--tasks", "-t", help="Task ids, comma-separated or repeated; 'all'.")],
    engine: Annotated[str | None, typer.Option(help="URL of an OpenAI-compatible server; default: the embedded model.")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Folder holding the benchmark files.")] = None,
    limit: Annotated[int | None, typer.Option(help="Evaluate only the first N items of each task.")] = None,
    shots: Annotated[int, typer.Option(help="Few-shot examples per question (capped per task).")] = 0,
    model: Annotated[str | None, typer.Option(help="Model name to send and record.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per task on stdout.")] = False,
    fresh: Annotated[bool, typer.Option(help="Start new runs instead of resuming unfinished ones.")] = False,
    skip_invalid: Annotated[bool, typer.Option(help="Skip malformed benchmark rows (reported) instead of stopping.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds allowed for one model reply.")] = DEFAULT_TIMEOUT_S,
    db: Annotated[str | None, typer.Option(help="Database URL; default: the hkllm database.")] = None,
) -> None:
    """Run tasks and store every answer; rerunning an interrupted command resumes it."""
    from hkllm.runtime import engine_for_command

    settings = load_settings().model_copy(update={"engine_timeout_s": timeout})
    try:
        selected = parse_task_list(tasks)
        # no --engine: the configured engine, started for this command if it is the embedded model and
        # no `hkllm serve` runs (as `hkllm chat` does); else the URL or fake engine named
        named = resolve_engine(engine, settings, timeout_s=timeout) if engine not in (None, "", "embedded",
                                                                                     "default") else None
    except HkllmError as exc:
        raise _fail(exc) from exc
    database = Database(db or settings.db_url)
    summaries: list[RunSummary] = []

    async def go() -> None:
        if named is not None:
            try:
                await run_all(named)
            finally:
                await named.aclose()
            return
        async with engine_for_command(settings) as eng:
            await run_all(eng)

    async def run_all(eng: Engine) -> None:
        await check_engine(eng)
        columns = (SpinnerColumn(), TextColumn("{task.description:<15}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn())
        with Progress(*columns, console=err, transient=False) as progress:
            for task in selected:
                summary = await run_task(task, eng, database, data_dir=data_dir, limit=limit, shots=shots,
                                         model=model, fresh=fresh, skip_invalid=skip_invalid,
                                         timeout_s=timeout, progress=progress)
                summaries.append(summary)
                if as_json:
                    typer.echo(json.dumps(summary.as_json(), ensure_ascii=False))

    def _terminate(_signum: int, _frame: object) -> None:  # SIGTERM: stop like Ctrl-C (run stays resumable)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        asyncio.run(go())
    except HkllmError as exc:
        raise _fail(exc) from exc
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]: answers so far are saved; run the same command again to resume.")
        raise typer.Exit(code=130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        database.dispose()
    for s in summaries:
        for line in s.skipped_rows:
            err.print(f"[yellow]skipped[/] {line}", highlight=False)
    if not as_json:
        table = Table(title="evaluation results")
        for col in ("task", "score", "n", "shots", "wall s", "model", "run"):
            table.add_column(col)
        for s in summaries:
            table.add_row(s.task, f"{s.score:.3f}", str(s.n), str(s.shots), f"{s.wall_s:.1f}", s.model, f"#{s.run_id}")
        out.print(table)


@app.command("runs")
def runs(db: Annotated[str | None, typer.Option(help="Database URL; default: the hkllm database.")] = None) -> None:
    """List stored runs, newest last."""
    database = Database(db or load_settings().db_url)
    try:
        with database.session() as session:
            rows = store.list_runs(session)
            table = Table(title="evaluation runs")
            for col in ("#", "date", "task", "model", "engine", "shots", "n", "score", "wall s", "status"):
                table.add_column(col)
            for r in rows:
                table.add_row(str(r.id), f"{r.created_at:%Y-%m-%d %H:%M}", r.task, r.model, r.engine, str(r.shots),
                              str(r.n), "-" if r.score is None else f"{r.score:.3f}", f"{r.wall_s:.1f}", r.status)
        out.print(table)
    finally:
        database.dispose()


@app.command("report")
def report(
    out_file: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path("hkllm-eval-report.html"),
    db: Annotated[str | None, typer.Option(help="Database URL; default: the hkllm database.")] = None,
) -> None:
    """Write a self-contained HTML report (tables, plots, published anchors)."""
    database = Database(db or load_settings().db_url)
    try:
        path = write_report(database, out_file)
    finally:
        database.dispose()
    typer.echo(str(path))
