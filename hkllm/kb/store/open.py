"""``open_store``: the knowledge-base store over a database (SQLite or PostgreSQL, picked by its URL)."""

from __future__ import annotations

from hkllm.kb.store.base import KBStore
from hkllm.kb.store.records import Analyzer, KBStoreError
from hkllm.store.db import Database


def open_store(db: Database | str, *, analyzer: Analyzer | None = None) -> KBStore:
    """A store over ``db``: the process's one ``Database`` (already migrated), or a URL, which opens a
    database of its own (migrated first; for tools, tests and benches that have no ``Database``)."""
    if isinstance(db, str):
        db = Database(db)
    url = str(db.engine.url)
    if url.startswith("sqlite"):
        from hkllm.kb.store.sqlite import SQLiteKBStore

        return SQLiteKBStore(db.engine, analyzer)
    if url.startswith("postgresql"):
        from hkllm.kb.store.pg import PgKBStore

        return PgKBStore(db.engine, analyzer)
    raise KBStoreError(f"unsupported database for the knowledge base: {url.split(':', 1)[0]}")
