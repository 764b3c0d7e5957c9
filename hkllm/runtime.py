"""The composition root: every serving object of one process, built in one place.

``build_runtime(settings)`` opens the one database (migrated once) and the knowledge base over it;
``build_chat_service`` puts the chat service on an engine. ``hkllm.api.app.build_app`` builds the API from
them and the CLI builds the same objects through ``build_runtime`` (``hkllm kb ...``) and
``engine_for_command`` (every command that needs a model: it uses a running ``hkllm serve``'s model,
else starts the embedded one for the command, exactly as ``hkllm chat`` does). Nothing below this module
keeps process-wide state that depends on settings, so two runtimes (two data dirs) share nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from hkllm.embedded import EmbeddedEngine, EmbeddedServer, make_engine, prepare_model
from hkllm.engine import Engine
from hkllm.kb.knowledge_base import KnowledgeBase
from hkllm.services.chat import ChatService
from hkllm.services.reply_language import resolve_localize
from hkllm.settings import Settings
from hkllm.store.db import Database

err_console = Console(stderr=True)


@dataclass
class Runtime:
    """The process's database and knowledge base (the engine is separate: many commands need none)."""

    settings: Settings
    db: Database
    kb: KnowledgeBase

    def close(self) -> None:
        self.kb.close()
        self.db.dispose()


def build_runtime(settings: Settings, *, db: Database | None = None) -> Runtime:
    """Open the database (migrating it once) and the knowledge base over it."""
    if db is None:
        if settings.db_url.startswith("sqlite"):
            settings.ensure_data_dir()
        db = Database(settings.db_url)
    kb = KnowledgeBase.open(db, data_dir=settings.data_dir, embedder=settings.kb_embedder,
                            max_upload_bytes=settings.kb_max_upload_bytes)
    return Runtime(settings, db, kb)


def build_chat_service(settings: Settings, engine: Engine, db: Database) -> ChatService:
    """The chat service over ``engine``; the word-by-word Cantonese rewrite only where ``reply_localize``
    allows it (auto: the embedded model only)."""
    return ChatService(engine, db, default_max_tokens=settings.default_max_tokens, reply_lang=settings.reply_lang,
                       localize=resolve_localize(settings.reply_localize, engine))


def prepare_model_with_progress(settings: Settings) -> None:
    """Join the bundled model chunks once, with a progress bar; a no-op when the hash already matches."""
    with Progress(TextColumn("[bold]preparing embedded model"), BarColumn(), DownloadColumn(),
                  TimeRemainingColumn(), console=err_console, transient=True) as progress:
        task = progress.add_task("join", total=None)
        prepare_model(settings, progress=lambda done, total: progress.update(task, completed=done, total=total))


@asynccontextmanager
async def engine_for_command(settings: Settings) -> AsyncIterator[Engine]:
    """The configured engine for one CLI command. When it is the embedded model and no ``hkllm serve``
    runs it, the model is started for this command and stopped after it."""
    engine = make_engine(settings)
    server: EmbeddedServer | None = None
    if isinstance(engine, EmbeddedEngine) and not (await engine.health()).ok:
        await engine.aclose()
        prepare_model_with_progress(settings)
        err_console.print("[dim]starting the embedded model for this command (no `hkllm serve` running)...[/]")
        server = EmbeddedServer(settings)
        await asyncio.to_thread(server.start, wait=True)
        engine = make_engine(settings, server)
    try:
        yield engine
    finally:
        await engine.aclose()
        if server is not None:
            server.stop()
