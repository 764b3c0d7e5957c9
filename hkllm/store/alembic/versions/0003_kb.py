"""knowledge base: documents, units, full-text index, embeddings

Revision ID: 0003_kb
Revises: 0002_eval

SQLite: an FTS5 table ``kb_unit_fts`` (external content = ``kb_unit.search_text``, kept in sync by
triggers; ``search_text`` is jieba-segmented, Simplified-normalised, lightly stemmed text, so
``unicode61`` tokenises Chinese words and English alike) and embeddings as float32 blobs.
PostgreSQL: a generated ``tsvector`` column with a GIN index and a pgvector ``vector(384)`` column with
an HNSW index (cosine). ``CREATE EXTENSION vector`` needs a role allowed to create it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_kb"
down_revision = "0002_eval"
branch_labels = None
depends_on = None

EMBED_DIM = 384


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS vector")

    op.create_table(
        "kb_state",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
    )
    op.create_table(
        "kb_document",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("collection", sa.String(100), nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("lang", sa.String(20), nullable=False),
        sa.Column("version_date", sa.Date(), nullable=True),
        sa.Column("version_tag", sa.String(10), nullable=False),
        sa.Column("source_path", sa.Text(), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("unit_count", sa.Integer(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("collection", "key", "version_tag", name="uq_kb_document_version"),
    )
    op.create_index("ix_kb_document_sha", "kb_document", ["content_sha256"])

    op.create_table(
        "kb_unit",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("document_id", sa.Integer(), sa.ForeignKey("kb_document.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("collection", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("lang", sa.String(20), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("version_date", sa.Date(), nullable=True),
        sa.Column("ukey", sa.String(200), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("cap", sa.String(20), nullable=True),
        sa.Column("section", sa.String(200), nullable=True),
        sa.Column("schedule", sa.String(20), nullable=True),
        sa.Column("neutral_citation", sa.String(100), nullable=True),
        sa.Column("paragraph", sa.Integer(), nullable=True),
        sa.Column("doc_ref", sa.String(300), nullable=True),
        sa.Column("citation", sa.JSON(), nullable=False),
        sa.Column("heading", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("align_key", sa.String(300), nullable=True),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("text_sha256", sa.String(64), nullable=False),
        sa.Column("embed_model", sa.String(64), nullable=True),
        *([sa.Column("embedding", sa.LargeBinary(), nullable=True)] if dialect != "postgresql" else []),
        sa.UniqueConstraint("document_id", "ukey", name="uq_kb_unit_key"),
    )
    op.create_index("ix_kb_unit_document", "kb_unit", ["document_id"])
    op.create_index("ix_kb_unit_cite", "kb_unit", ["cap", "section", "schedule"])
    op.create_index("ix_kb_unit_neutral", "kb_unit", ["neutral_citation", "paragraph"])
    op.create_index("ix_kb_unit_align", "kb_unit", ["align_key"])
    op.create_index("ix_kb_unit_text_sha", "kb_unit", ["text_sha256"])

    if dialect == "postgresql":
        op.execute(f"ALTER TABLE kb_unit ADD COLUMN embedding vector({EMBED_DIM})")
        op.execute(
            "ALTER TABLE kb_unit ADD COLUMN search_tsv tsvector "
            "GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED"
        )
        op.execute("CREATE INDEX ix_kb_unit_tsv ON kb_unit USING gin (search_tsv)")
        op.execute("CREATE INDEX ix_kb_unit_hnsw ON kb_unit USING hnsw (embedding vector_cosine_ops)")
    elif dialect == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE kb_unit_fts USING fts5(search_text, content='kb_unit', "
            "content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
        )
        op.execute(
            "CREATE TRIGGER kb_unit_fts_ai AFTER INSERT ON kb_unit BEGIN "
            "INSERT INTO kb_unit_fts(rowid, search_text) VALUES (new.id, new.search_text); END"
        )
        op.execute(
            "CREATE TRIGGER kb_unit_fts_ad AFTER DELETE ON kb_unit BEGIN "
            "INSERT INTO kb_unit_fts(kb_unit_fts, rowid, search_text) "
            "VALUES ('delete', old.id, old.search_text); END"
        )
        op.execute(
            "CREATE TRIGGER kb_unit_fts_au AFTER UPDATE OF search_text ON kb_unit BEGIN "
            "INSERT INTO kb_unit_fts(kb_unit_fts, rowid, search_text) "
            "VALUES ('delete', old.id, old.search_text); "
            "INSERT INTO kb_unit_fts(rowid, search_text) VALUES (new.id, new.search_text); END"
        )
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(f"knowledge base tables: unsupported database {dialect!r}")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("kb_unit_fts_ai", "kb_unit_fts_ad", "kb_unit_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS kb_unit_fts")
    op.drop_table("kb_unit")
    op.drop_table("kb_document")
    op.drop_table("kb_state")
