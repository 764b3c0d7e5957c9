"""Tables. Every change here comes with an Alembic migration in alembic/versions/."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hkllm.store.db import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


class ChatLog(Base):
    """One chat completion request and its response, written in a single transaction when it ends."""

    __tablename__ = "chat_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(32))  # api, cli, web
    model: Mapped[str] = mapped_column(String(200))
    engine: Mapped[str] = mapped_column(String(100))
    stream: Mapped[bool] = mapped_column(Boolean)
    messages: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    response: Mapped[str | None] = mapped_column(Text, nullable=True)  # the final text the caller got
    # The model's own text before the reply-language fixes (script conversion, Cantonese localizing).
    raw_response: Mapped[str | None] = mapped_column(Text, nullable=True)
    finish_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status: Mapped[str] = mapped_column(String(16))  # ok | error
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    completion_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ttft_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    duration_ms: Mapped[float] = mapped_column(Float)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
