"""The knowledge-base tables as SQLAlchemy Core (matching migration 0003_kb)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Column, Date, DateTime, Integer, MetaData, String, Table, Text
from sqlalchemy.types import TypeEngine


def kb_tables(vector_type: TypeEngine[Any]) -> tuple[Table, Table, Table]:
    """Core tables matching migration 0003_kb (``embedding`` type differs per database)."""
    md = MetaData()
    state = Table("kb_state", md, Column("name", String(64), primary_key=True),
                  Column("value", String(200), nullable=False))
    docs = Table(
        "kb_document", md,
        Column("id", Integer, primary_key=True), Column("collection", String(100)),
        Column("key", String(300)), Column("kind", String(20)), Column("title", Text),
        Column("lang", String(20)), Column("version_date", Date), Column("version_tag", String(10)),
        Column("source_path", Text), Column("content_sha256", String(64)), Column("is_current", Boolean),
        Column("unit_count", Integer), Column("meta", JSON), Column("ingested_at", DateTime(timezone=True)),
    )
    units = Table(
        "kb_unit", md,
        Column("id", Integer, primary_key=True), Column("document_id", Integer),
        Column("collection", String(100)), Column("kind", String(20)), Column("lang", String(20)),
        Column("is_current", Boolean), Column("version_date", Date), Column("ukey", String(200)),
        Column("ordinal", Integer), Column("cap", String(20)), Column("section", String(200)),
        Column("schedule", String(20)), Column("neutral_citation", String(100)), Column("paragraph", Integer),
        Column("doc_ref", String(300)), Column("citation", JSON), Column("heading", Text),
        Column("text", Text), Column("align_key", String(300)), Column("meta", JSON),
        Column("search_text", Text), Column("text_sha256", String(64)), Column("embed_model", String(64)),
        Column("embedding", vector_type),
    )
    return state, docs, units
