"""Database engine, sessions and migrations (SQLite in the data dir by default, PostgreSQL at scale)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

ALEMBIC_DIR = Path(__file__).parent / "alembic"


class Base(DeclarativeBase):
    """Declarative base for every hkllm table. Each table gets an Alembic migration."""


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def sqlalchemy_url(url: str) -> str:
    """PostgreSQL URLs use psycopg 3 (``postgresql+psycopg://``); others are returned as they are."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_db_engine(url: str) -> Engine:
    """A SQLAlchemy engine; SQLite gets WAL, foreign keys and a busy timeout."""
    url = sqlalchemy_url(url)
    if url.startswith("sqlite"):
        db_path = url.split("///", 1)[-1]
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "heads") -> None:
    """Bring the database at ``url`` up to ``revision`` (idempotent; ``heads`` tolerates branches)."""
    command.upgrade(alembic_config(url), revision)


class Database:
    """One database: engine plus session factory. ``session()`` commits on success, rolls back on error.

    A process builds one (``hkllm.runtime.build_runtime``): the migrations run once, here, and the chat
    log, the evaluation store and the knowledge base share its engine."""

    def __init__(self, url: str, *, run_migrations: bool = True) -> None:
        self.url = url
        if run_migrations:
            migrate(url)
        self.engine = make_db_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
