"""Evaluation results in the hkllm database: one ``eval_run`` row per (task, model, engine, settings)
run, one ``eval_item`` row per answered item, written as soon as the item is scored so an interrupted
run resumes where it stopped. Migration: ``hkllm/store/alembic/versions/0002_eval.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from hkllm.store.db import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


class EvalRun(Base):
    __tablename__ = "eval_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    task: Mapped[str] = mapped_column(String(64), index=True)
    model: Mapped[str] = mapped_column(String(300))
    engine: Mapped[str] = mapped_column(String(300))
    prompt_version: Mapped[str] = mapped_column(String(32))
    shots: Mapped[int] = mapped_column(Integer)
    item_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_tokens: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    data_fingerprint: Mapped[str] = mapped_column(String(64))
    data_dir: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # running | done
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    n: Mapped[int] = mapped_column(Integer, default=0)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    wall_s: Mapped[float] = mapped_column(Float, default=0.0)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class EvalItem(Base):
    __tablename__ = "eval_item"
    __table_args__ = (UniqueConstraint("run_id", "item_id", name="uq_eval_item_run_item"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("eval_run.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[str] = mapped_column(String(300))
    position: Mapped[int] = mapped_column(Integer)
    subset: Mapped[str] = mapped_column(String(200))
    messages: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    output: Mapped[str] = mapped_column(Text)
    prediction: Mapped[str | None] = mapped_column(Text, nullable=True)
    reference: Mapped[str] = mapped_column(Text)
    correct: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    value: Mapped[float] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# ---------------------------------------------------------------------------------------------------
# Queries


def find_resumable(
    session: Session, *, task: str, model: str, engine: str, prompt_version: str, shots: int,
    max_tokens: int, seed: int, data_fingerprint: str,
) -> EvalRun | None:
    """The newest unfinished run with exactly these settings, if any."""
    stmt = (
        select(EvalRun)
        .where(EvalRun.task == task, EvalRun.model == model, EvalRun.engine == engine,
               EvalRun.prompt_version == prompt_version, EvalRun.shots == shots, EvalRun.max_tokens == max_tokens,
               EvalRun.seed == seed, EvalRun.data_fingerprint == data_fingerprint, EvalRun.status == "running")
        .order_by(EvalRun.id.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def items_of(session: Session, run_id: int) -> list[EvalItem]:
    return list(session.scalars(select(EvalItem).where(EvalItem.run_id == run_id).order_by(EvalItem.position)))


def drop_failed_items(session: Session, run_id: int) -> int:
    """Delete the items that ended in an engine error, so a resumed run asks them again."""
    failed = list(session.scalars(select(EvalItem).where(EvalItem.run_id == run_id, EvalItem.error.is_not(None))))
    for row in failed:
        session.delete(row)
    return len(failed)


def list_runs(session: Session, *, status: str | None = None) -> list[EvalRun]:
    stmt = select(EvalRun).order_by(EvalRun.created_at, EvalRun.id)
    if status:
        stmt = stmt.where(EvalRun.status == status)
    return list(session.scalars(stmt))
