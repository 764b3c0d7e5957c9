"""``hkllm apps``: list the registered apps and run one.

    hkllm apps list [--json]
    hkllm apps run APP_ID --input '{"text": "你好"}' [--json]
    hkllm apps run APP_ID --input-file input.json      (``-`` reads standard input)

``run`` starts only what the app declares it needs: the model (a running ``hkllm serve``'s, else the
embedded one for this command) when ``needs_engine``, the database and knowledge base when ``needs_kb``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from hkllm.apps.base import AnyApp, AppContext, all_apps, get_app
from hkllm.engine import Engine
from hkllm.errors import HkllmError, InvalidRequest
from hkllm.settings import Settings, load_settings

app = typer.Typer(help="List and run the hkllm apps (each also at /v1/apps and on the web page).",
                  no_args_is_help=True)
out = Console()
err = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code=2)


@app.command("list")
def list_apps(
    as_json: Annotated[bool, typer.Option("--json", help="Print the apps with their input and output JSON schemas.")] = False,
) -> None:
    """The registered apps: built-ins first, then plugins."""
    try:
        apps = all_apps()
    except HkllmError as exc:
        raise _fail(exc.message) from exc
    if as_json:
        typer.echo(json.dumps([a.describe() for a in apps], ensure_ascii=False, indent=2))
        return
    table = Table("id", "title", "description")
    for one in apps:
        table.add_row(one.id, one.title, one.description)
    out.print(table)


def _read_input(text: str | None, file: Path | None) -> Any:
    """The input JSON from ``--input`` or ``--input-file`` (exactly one of them)."""
    if (text is None) == (file is None):
        raise InvalidRequest("give the app's input as --input JSON or --input-file FILE (one of them)")
    if file is not None:
        try:
            text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidRequest(f"cannot read {file}: {exc.strerror}") from exc
    try:
        return json.loads(text or "")
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"the input is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc


async def _run(chosen: AnyApp, data: Any, settings: Settings) -> dict[str, Any]:
    """Validate first (no model is started for bad input), then open what the app needs and run it."""
    from hkllm.embedded import make_engine
    from hkllm.runtime import build_runtime, engine_for_command

    chosen.parse_input(data)
    async with AsyncExitStack() as stack:
        engine: Engine
        if chosen.needs_engine:
            engine = await stack.enter_async_context(engine_for_command(settings))
        else:  # a client of the configured engine, not started: the app declared it does not call it
            engine = make_engine(settings)
            stack.push_async_callback(engine.aclose)
        kb = None
        if chosen.needs_kb:
            runtime = build_runtime(settings)
            stack.callback(runtime.close)
            kb = runtime.kb
        output: BaseModel = await chosen.invoke(data, AppContext(engine=engine, settings=settings, kb=kb))
    return output.model_dump(mode="json")


def _print_output(output: dict[str, Any]) -> None:
    """A lone text field is printed as it is; otherwise one ``field: value`` line per field."""
    if len(output) == 1 and isinstance(next(iter(output.values())), str):
        typer.echo(next(iter(output.values())))
        return
    for name, value in output.items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        typer.echo(f"{name}: {shown}")


@app.command("run")
def run(
    app_id: Annotated[str, typer.Argument(help="The app's id (`hkllm apps list`).")],
    input_json: Annotated[str | None, typer.Option("--input", help="The app's input as a JSON object.")] = None,
    input_file: Annotated[Path | None, typer.Option("--input-file", help="A file holding the input JSON ('-': stdin).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the app's output as JSON.")] = False,
) -> None:
    """Run one app on a JSON input and print its output."""
    try:
        chosen = get_app(app_id)
        data = _read_input(input_json, input_file)
        output = asyncio.run(_run(chosen, data, load_settings()))
    except HkllmError as exc:
        raise _fail(exc.message) from exc
    if as_json:
        typer.echo(json.dumps(output, ensure_ascii=False, indent=2))
    else:
        _print_output(output)
