"""evaluation runs and per-item results

Revision ID: 0002_eval
Revises: 0001_chat_log
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_eval"
down_revision = "0001_chat_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "eval_run",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("task", sa.String(64), nullable=False),
        sa.Column("model", sa.String(300), nullable=False),
        sa.Column("engine", sa.String(300), nullable=False),
        sa.Column("prompt_version", sa.String(32), nullable=False),
        sa.Column("shots", sa.Integer(), nullable=False),
        sa.Column("item_limit", sa.Integer(), nullable=True),
        sa.Column("max_tokens", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("data_fingerprint", sa.String(64), nullable=False),
        sa.Column("data_dir", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("wall_s", sa.Float(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
    )
    op.create_index("ix_eval_run_created_at", "eval_run", ["created_at"])
    op.create_index("ix_eval_run_task", "eval_run", ["task"])
    op.create_index("ix_eval_run_status", "eval_run", ["status"])
    op.create_table(
        "eval_item",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("eval_run.id", ondelete="CASCADE"), nullable=False),
        sa.Column("item_id", sa.String(300), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("subset", sa.String(200), nullable=False),
        sa.Column("messages", sa.JSON(), nullable=False),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("prediction", sa.Text(), nullable=True),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("correct", sa.Boolean(), nullable=True),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("run_id", "item_id", name="uq_eval_item_run_item"),
    )
    op.create_index("ix_eval_item_run_id", "eval_item", ["run_id"])


def downgrade() -> None:
    op.drop_table("eval_item")
    op.drop_table("eval_run")

