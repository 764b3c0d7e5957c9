"""The ``hkllm`` command. Top-level commands here; one Typer sub-app per area (lang, kb, eval, ...)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import platform
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperArgument, TyperGroup, TyperOption

from hkllm import __version__
from hkllm.embedded import EmbeddedEngine, EmbeddedServer, file_sha256, make_engine
from hkllm.engine import ChatMessage, ChatRequest, EngineHealth
from hkllm.errors import HkllmError, ModelFileError
from hkllm.runtime import build_chat_service, build_runtime, engine_for_command, prepare_model_with_progress
from hkllm.settings import MODEL_SHA256, Settings, load_settings

# Type names as help shows them (Typer alone prints Python annotations: ``<list[Path]>``, ``<bool>``).
_HELP_TYPE_NAMES = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "path": "PATH", "file": "FILE",
                    "directory": "DIR", "datetime": "DATETIME", "uuid": "UUID"}


def _readable_type(raw: str | None, *, is_flag: bool) -> str | None:
    """``<list[Path]>`` -> ``PATH...``, ``<int>`` -> ``INTEGER``, a flag -> nothing."""
    if raw is None or is_flag:
        return "" if is_flag else raw
    label = raw.removeprefix("<").removesuffix(">")
    many = label.startswith("list[") and label.endswith("]")
    if many:
        label = label[len("list["):-1]
    if "|" not in label:  # choices stay as they are: a|b|c
        label = _HELP_TYPE_NAMES.get(label.lower(), label.upper())
    return label + ("..." if many else "")


class _ReadableOption(TyperOption):
    def display_type(self, ctx: Any) -> str:
        return _readable_type(super().display_type(ctx), is_flag=bool(self.is_flag)) or ""


class _ReadableArgument(TyperArgument):
    def display_type(self, ctx: Any) -> str:
        return _readable_type(super().display_type(ctx), is_flag=False) or ""


def _make_readable(param: Any) -> Any:
    if type(param) is TyperOption:
        param.__class__ = _ReadableOption
    elif type(param) is TyperArgument:
        param.__class__ = _ReadableArgument
    return param


def _readable_help(command: Any) -> None:
    """Give every option and argument of ``command`` and its sub-commands readable help types."""
    for param in getattr(command, "params", []):
        _make_readable(param)
    make_help_option = command.get_help_option  # --help is made on first use
    setattr(command, "get_help_option", lambda ctx: _make_readable(make_help_option(ctx)))  # noqa: B010
    for sub in getattr(command, "commands", {}).values():
        _readable_help(sub)


class _ReadableHelpGroup(TyperGroup):
    """The root command group: the whole command tree (sub-apps included) prints readable types."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _readable_help(self)


app = typer.Typer(
    help="hkllm: an open, self-hostable Hong Kong LLM system (兩文三語 chat, knowledge base, apps).",
    no_args_is_help=True,
    add_completion=False,
    cls=_ReadableHelpGroup,
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


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"hkllm {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.",
                                          callback=_print_version, is_eager=True)] = False,
) -> None:
    pass


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


CHAT_HISTORY_FILE = "chat_history"  # the lines typed in `hkllm chat`, under the data dir
CHAT_HISTORY_LINES = 1000
ReplyStream = Callable[[list[ChatMessage]], AsyncGenerator[dict[str, Any], None]]


def enable_line_editing(history_path: Path) -> Callable[[], None]:
    """Line editing (arrow keys, Ctrl-A/E, Ctrl-R) for ``input()`` through GNU readline or libedit, with
    the lines typed in earlier sessions loaded from ``history_path``. Returns the function that saves
    them back (owner-only file: the questions can be private). A no-op where Python has no readline."""
    try:
        import readline
    except ImportError:  # Windows: its console already edits lines
        return lambda: None
    readline.set_history_length(CHAT_HISTORY_LINES)
    with contextlib.suppress(OSError):
        readline.read_history_file(history_path)

    def save() -> None:
        try:
            history_path.parent.mkdir(parents=True, exist_ok=True)
            readline.write_history_file(history_path)
            os.chmod(history_path, 0o600)
        except OSError as exc:
            err_console.print(f"[yellow]warning:[/] chat history not saved to {history_path}: {exc}")

    return save


def _prompt() -> str:
    if not sys.stdout.isatty():
        return "> "
    return "\001\033[1;36m\002> \001\033[0m\002"  # colour codes marked for readline (\001..\002)


def _main_thread_gets_ctrl_c() -> None:
    """In a worker thread (DNS look-ups, to_thread): block SIGINT, so that Ctrl-C always reaches the main
    thread. Delivered to a worker, it would not wake ``input()`` at the prompt until the next key."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def chat_turn(runner: asyncio.Runner, stream: ReplyStream, history: list[ChatMessage], text: str) -> str | None:
    """One exchange: ``text`` and the streamed reply are added to ``history``. Ctrl-C (or an engine error)
    during the reply stops it and closes the stream; the session goes on with ``history`` as it was
    before this question: neither the question nor the partial reply is kept. Returns the reply, or
    None when it was stopped."""
    history.append(ChatMessage(role="user", content=text))

    async def collect() -> str:
        parts: list[str] = []
        async with contextlib.aclosing(stream(history)) as chunks:
            async for chunk in chunks:
                parts.append(_print_chunk_text(chunk))
        return "".join(parts)

    try:
        reply = runner.run(collect())
    except (KeyboardInterrupt, asyncio.CancelledError):
        history.pop()
        sys.stdout.write("\n")
        err_console.print("[yellow]reply stopped[/] [dim](neither it nor the question is kept in the history)[/]")
        return None
    except HkllmError as exc:
        history.pop()
        sys.stdout.write("\n")
        err_console.print(f"[bold red]error:[/] {exc.message} [dim](the session goes on)[/]")
        return None
    sys.stdout.write("\n")
    history.append(ChatMessage(role="assistant", content=reply))
    return reply


def chat_session(runner: asyncio.Runner, stream: ReplyStream, history: list[ChatMessage], keep: int,
                 history_path: Path) -> None:
    """The interactive loop: /reset keeps the first ``keep`` messages (the system prompt), /exit or Ctrl-D
    quits, Ctrl-C at the prompt drops the line typed, Ctrl-C during a reply stops the reply."""
    save_history = enable_line_editing(history_path)
    err_console.print("[dim]hkllm chat — /reset clears the history, /exit or Ctrl-D quits, "
                      "Ctrl-C stops a reply[/]")
    try:
        while True:
            try:
                line = input(_prompt())
            except EOFError:
                sys.stdout.write("\n")
                break
            except KeyboardInterrupt:  # drops the line typed, as a shell does
                sys.stdout.write("\n")
                err_console.print("[dim](/exit or Ctrl-D quits)[/]")
                continue
            if line.strip() in {"/exit", "/quit"}:
                break
            if line.strip() == "/reset":
                del history[keep:]
                continue
            if line.strip():
                chat_turn(runner, stream, history, line)
    finally:
        save_history()


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
    """Chat with the model: one question, or an interactive session that keeps history (/reset, /exit).
    The session has line editing and remembers the lines typed (<data dir>/chat_history); Ctrl-C stops a
    reply and keeps the session."""
    settings = load_settings()
    history: list[ChatMessage] = [ChatMessage(role="system", content=system)] if system else []

    def request(messages: list[ChatMessage], stream: bool) -> ChatRequest:
        return ChatRequest(model=model, messages=messages, max_tokens=max_tokens,
                           temperature=temperature, stream=stream, reply_lang=lang)

    try:
        runtime = build_runtime(settings)
        try:
            with asyncio.Runner() as runner:
                runner.get_loop().set_default_executor(ThreadPoolExecutor(initializer=_main_thread_gets_ctrl_c))
                engine_scope = contextlib.AsyncExitStack()
                try:
                    engine = runner.run(engine_scope.enter_async_context(engine_for_command(settings)))
                    service = build_chat_service(settings, engine, runtime.db)

                    def stream(messages: list[ChatMessage]) -> AsyncGenerator[dict[str, Any], None]:
                        return service.stream(request(messages, True), source="cli")  # type: ignore[return-value]

                    if question is None:
                        chat_session(runner, stream, history, len(history),
                                     settings.data_dir / CHAT_HISTORY_FILE)
                    elif as_json:
                        history.append(ChatMessage(role="user", content=question))
                        completion = runner.run(service.complete(request(history, False), source="cli"))
                        console.print_json(json.dumps(completion, ensure_ascii=False))
                    elif chat_turn(runner, stream, history, question) is None:
                        raise typer.Exit(130)
                finally:
                    runner.run(engine_scope.aclose())
        finally:
            runtime.close()
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


Check = tuple[bool | None, str]  # (True ok / None warn / False fail, detail)


def check_api_port(host: str, port: int, timeout_s: float = 3.0) -> Check:
    """Is something listening on the API's address, and is it hkllm (its ``GET /health`` answers)?"""
    if host in {"", "0.0.0.0", "::"}:
        host = "127.0.0.1"
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError:
        return None, f"nothing listening on {host}:{port} (the API runs with `hkllm serve`)"
    url = f"http://{host}:{port}/health"
    try:
        response = httpx.get(url, timeout=timeout_s)
        body = response.json()
    except (httpx.HTTPError, ValueError):
        body = None
    if not (isinstance(body, dict) and isinstance(body.get("engine"), dict) and "version" in body):
        return False, (f"{host}:{port} is taken by another program (GET /health does not answer as hkllm); "
                       "stop it or set HKLLM_PORT")
    engine = body["engine"]
    detail = f"hkllm {body['version']} on http://{host}:{port}, engine {engine.get('name')}"
    if engine.get("ok"):
        return True, detail + " ok"
    return None, detail + f" not ready: {engine.get('detail')}"


def check_database(url: str) -> Check:
    """Can the database be opened, and are its migrations at head (``hkllm serve`` migrates at start)?"""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import make_url

    from hkllm.store.db import Database, alembic_config, sqlalchemy_url

    shown = make_url(sqlalchemy_url(url)).render_as_string(hide_password=True)
    try:
        db = Database(url, run_migrations=False)
        try:
            with db.engine.connect() as connection:
                current = set(MigrationContext.configure(connection).get_current_heads())
        finally:
            db.dispose()
        heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
    except Exception as exc:  # noqa: BLE001 — report any driver error
        return False, f"{shown}: {exc}"
    if current == heads:
        return True, f"{shown}, migrations at head ({', '.join(sorted(heads))})"
    state = ", ".join(sorted(current)) or "empty (new database)"
    return None, f"{shown}: at {state}, head is {', '.join(sorted(heads))} (the next hkllm command migrates it)"


def _embedded_counts(embedded: Any) -> str:
    """``{"hash-ngram-384": 12}`` -> ``12 embedded by hash-ngram-384``."""
    if isinstance(embedded, dict) and embedded:
        return ", ".join(f"{count} embedded by {name}" for name, count in embedded.items())
    return f"{embedded or 0} embedded"


def check_knowledge_base(settings: Settings) -> list[tuple[str, bool | None, str]]:
    """The embedder (made, loaded and timed on one query) and the knowledge base (counts, integrity check,
    warnings such as vectors made by another embedder backend)."""
    try:
        runtime = build_runtime(settings)
    except HkllmError as exc:
        return [("knowledge base", False, exc.message)]
    out: list[tuple[str, bool | None, str]] = []
    try:
        kb = runtime.kb
        if kb.embedder is None:
            out.append(("embedder", None, f"{kb.embedder_setting}: none, search is BM25 (full text) only"))
        else:
            started = time.perf_counter()
            try:
                vector = kb.embedder.embed_query("個人資料私隱 personal data privacy")
                out.append(("embedder", True, f"{kb.embedder_setting} ({kb.embedder.name}, dim {len(vector)}): "
                            f"loaded and embedded one query in {time.perf_counter() - started:.2f}s"))
            except Exception as exc:  # noqa: BLE001 — any backend error is the finding
                out.append(("embedder", False, f"{kb.embedder_setting}: {type(exc).__name__}: {exc}"))
                return out
        try:
            stats = kb.stats(check=True)
        except HkllmError as exc:
            return [*out, ("knowledge base", False, exc.message)]
        problems = stats.get("integrity_problems") or []
        out.append(("knowledge base", not problems,
                    f"{stats['documents']} documents ({stats['documents_current']} current), {stats['units']} "
                    f"units, {_embedded_counts(stats['embedded_units'])}; integrity "
                    + ("ok" if not problems else "problems: " + "; ".join(problems[:5]))))
        out.extend(("knowledge base", None, w["message"]) for w in stats.get("warnings") or [])
    finally:
        runtime.close()
    return out


@app.command()
def doctor() -> None:
    """Check the set-up: data dir, database, API port, model file and hash, engine, knowledge base and
    embedder, versions. Non-zero exit on failure."""
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
    check("database", *check_database(settings.db_url))
    check("API port", *check_api_port(settings.host, settings.port))

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
    for what, ok, detail in check_knowledge_base(settings):
        check(what, ok, detail)
    check("versions", True, f"hkllm {__version__}, python {platform.python_version()}, "
          f"fastapi {_version('fastapi')}, sqlalchemy {_version('sqlalchemy')}")

    table = Table("status", "check", "detail")
    for status, what, detail in checks:
        color = {"ok": "green", "warn": "yellow", "FAIL": "red"}[status]
        table.add_row(f"[{color}]{status}[/]", what, detail)
    console.print(table)
    if any(status == "FAIL" for status, _, _ in checks):
        raise typer.Exit(1)
