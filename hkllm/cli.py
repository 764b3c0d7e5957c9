"""The ``hkllm`` command. Top-level commands here; one Typer sub-app per area (lang, kb, eval, ...)."""

from __future__ import annotations

import asyncio
import importlib
import json
import platform
import sys
import tempfile
import threading
from importlib import metadata
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from hkllm.embedded import EmbeddedEngine, EmbeddedServer, file_sha256, make_engine
from hkllm.engine import ChatMessage, ChatRequest, EngineHealth
from hkllm.errors import HkllmError, ModelFileError
from hkllm.runtime import build_chat_service, build_runtime, engine_for_command, prepare_model_with_progress
from hkllm.services.chat import ChatService
from hkllm.settings import MODEL_SHA256, load_settings

app = typer.Typer(
    help="hkllm: an open, self-hostable Hong Kong LLM system (兩文三語 chat, knowledge base, apps).",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

# Area sub-apps: (command name, module holding a Typer ``app``).
SUB_APPS: list[tuple[str, str]] = [
    ("lang", "hkllm.lang.cli"),
    ("kb", "hkllm.kb.cli"),
    ("eval", "hkllm.evals.cli"),
    ("apps", "hkllm.apps.cli"),
]

for _name, _module in SUB_APPS:
    try:
        _mod = importlib.import_module(_module)
    except ModuleNotFoundError as exc:  # area not installed / not built
        if exc.name != _module:
            raise
        continue
    app.add_typer(_mod.app, name=_name)


def _fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (HKLLM_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (HKLLM_PORT).")] = None,
) -> None:
    """Run the API server and web page; supervise the embedded model unless HKLLM_ENGINE_URL is set."""
    import uvicorn

    from hkllm.api.app import build_app

    overrides: dict[str, Any] = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = load_settings(**overrides)
    settings.ensure_data_dir()
    try:
        runtime = build_runtime(settings)
    except HkllmError as exc:
        raise _fail(exc.message) from exc
    threading.Thread(target=runtime.kb.warm_up, name="kb-warm-up", daemon=True).start()
    server: EmbeddedServer | None = None
    if not settings.engine_url:
        server = EmbeddedServer(settings)
        try:
            prepare_model_with_progress(settings)
            err_console.print(f"starting embedded llama.cpp server on 127.0.0.1:{settings.embedded_port} ...")
            server.start(wait=True)
            err_console.print("[green]embedded model ready[/]")
        except ModelFileError as exc:
            server.error = exc.message  # every chat request answers 503 with this message
            err_console.print(f"[bold red]model file problem:[/] {exc.message}\n"
                              "The API starts anyway and answers chat requests with 503 until this is fixed.")
        except HkllmError as exc:
            server.stop()
            raise _fail(exc.message) from exc
    engine = make_engine(settings, server)
    try:
        err_console.print(f"hkllm API on http://{settings.host}:{settings.port}  (data dir {settings.data_dir})")
        # uvicorn re-raises SIGTERM after its shutdown, so the child is stopped in the app's shutdown too
        app_ = build_app(settings, engine, runtime=runtime, on_shutdown=server.stop if server else None)
        uvicorn.run(app_, host=settings.host, port=settings.port, log_level="info")
    finally:
        if server is not None:
            server.stop()


def _print_chunk_text(chunk: dict[str, Any]) -> str:
    text = "".join((c.get("delta") or {}).get("content") or "" for c in chunk.get("choices") or [])
    if text:
        sys.stdout.write(text)
        sys.stdout.flush()
    return text


@app.command()
def chat(
    question: Annotated[str | None, typer.Argument(help="Ask once and exit; omit for an interactive chat.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One-shot: print the full response object.")] = False,
    system: Annotated[str | None, typer.Option(help="A system prompt.")] = None,
    model: Annotated[str | None, typer.Option(help="Model id (default: the engine's first).")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Longest reply, in tokens.")] = None,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature.")] = None,
    lang: Annotated[str | None, typer.Option(
        "--lang", help="Reply language: yue, zh-Hant, zh-Hans, en, auto (follow the user) or off.")] = None,
) -> None:
    """Chat with the model: one question, or an interactive session that keeps history (/reset, /exit)."""
    settings = load_settings()
    history: list[ChatMessage] = [ChatMessage(role="system", content=system)] if system else []

    async def converse(service: ChatService) -> None:
        def request(stream: bool) -> ChatRequest:
            return ChatRequest(model=model, messages=history, max_tokens=max_tokens,
                               temperature=temperature, stream=stream, reply_lang=lang)

        async def ask_stream() -> str:
            parts = [_print_chunk_text(c) async for c in service.stream(request(True), source="cli")]
            sys.stdout.write("\n")
            return "".join(parts)

        if question is not None:
            history.append(ChatMessage(role="user", content=question))
            if as_json:
                completion = await service.complete(request(False), source="cli")
                console.print_json(json.dumps(completion, ensure_ascii=False))
            else:
                await ask_stream()
            return
        err_console.print("[dim]hkllm chat — /reset clears the history, /exit or Ctrl-D quits[/]")
        while True:
            try:
                line = await asyncio.to_thread(console.input, "[bold cyan]> [/]")
            except (EOFError, KeyboardInterrupt):
                break
            if line.strip() in {"/exit", "/quit"}:
                break
            if line.strip() == "/reset":
                del history[1 if system else 0 :]
                continue
            if not line.strip():
                continue
            history.append(ChatMessage(role="user", content=line))
            reply = await ask_stream()
            history.append(ChatMessage(role="assistant", content=reply))

    async def run() -> None:
        runtime = build_runtime(settings)
        try:
            async with engine_for_command(settings) as engine:
                await converse(build_chat_service(settings, engine, runtime.db))
        finally:
            runtime.close()

    try:
        asyncio.run(run())
    except HkllmError as exc:
        raise _fail(exc.message) from exc


@app.command()
def models() -> None:
    """List the models the configured engine serves."""
    settings = load_settings()

    async def run() -> list[dict[str, Any]]:
        async with engine_for_command(settings) as engine:
            return await engine.list_models()

    try:
        for m in asyncio.run(run()):
            console.print(m["id"])
    except HkllmError as exc:
        raise _fail(exc.message) from exc


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


@app.command()
def doctor() -> None:
    """Check the set-up: data dir, database, model file and hash, engine, versions. Non-zero exit on failure."""
    from hkllm.store.db import Database

    settings = load_settings()
    checks: list[tuple[str, str, str]] = []  # (status, what, detail)

    def check(what: str, ok: bool | None, detail: str) -> None:
        checks.append(("ok" if ok else "warn" if ok is None else "FAIL", what, detail))

    try:
        settings.ensure_data_dir()
        with tempfile.NamedTemporaryFile(dir=settings.data_dir):
            pass
        check("data dir writable", True, str(settings.data_dir))
    except OSError as exc:
        check("data dir writable", False, f"{settings.data_dir}: {exc}")
    try:
        Database(settings.db_url).dispose()
        check("database", True, settings.db_url)
    except Exception as exc:  # noqa: BLE001 — report any driver error
        check("database", False, f"{settings.db_url}: {exc}")

    engine = make_engine(settings)
    if isinstance(engine, EmbeddedEngine):
        path = settings.model_path or settings.bundled_model_path
        if not path.is_file():
            bundled = settings.model_path is None
            check("model file", False, f"{path} missing" + (" (run `make serve` or `hkllm serve` to prepare it)" if bundled else ""))
        elif settings.model_path is None:
            digest = file_sha256(path)
            check("model sha256", digest == MODEL_SHA256, f"{path} {digest[:16]}…")
        else:
            check("model file", True, f"{path} ({path.stat().st_size / 1e9:.2f} GB; user-supplied, hash not checked)")
        llama = _version("llama_cpp_python")
        check("llama-cpp-python", llama != "not installed", llama)

    async def probe() -> EngineHealth:
        try:
            return await engine.health()
        finally:
            await engine.aclose()

    health = asyncio.run(probe())
    if isinstance(engine, EmbeddedEngine) and not health.ok:
        check("engine", None, f"embedded server not running (it starts with `hkllm serve`): {health.detail}")
    else:
        check("engine", health.ok, health.detail)
    check("versions", True, f"hkllm {_version('hkllm')}, python {platform.python_version()}, "
          f"fastapi {_version('fastapi')}, sqlalchemy {_version('sqlalchemy')}")

    table = Table("status", "check", "detail")
    for status, what, detail in checks:
        color = {"ok": "green", "warn": "yellow", "FAIL": "red"}[status]
        table.add_row(f"[{color}]{status}[/]", what, detail)
    console.print(table)
    if any(status == "FAIL" for status, _, _ in checks):
        raise typer.Exit(1)

