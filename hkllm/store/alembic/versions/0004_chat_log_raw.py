"""chat log: the model's raw reply text beside the final one

Revision ID: 0004_chat_log_raw
Revises: 0003_kb
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_chat_log_raw"
down_revision = "0003_kb"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chat_log") as batch:
        batch.add_column(sa.Column("raw_response", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chat_log") as batch:
        batch.drop_column("raw_response")
