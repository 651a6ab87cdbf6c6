"""crowd task state

Revision ID: 2026_11_23_crowd
Revises: 2026_11_23_answers
Create Date: 2026-11-23 16:10:45.409187
"""

import sqlalchemy as sa
from alembic import op

revision = "2026_11_23_crowd"
down_revision = "2026_11_23_answers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(), nullable=True))

    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_assignments", sa.Integer(), server_default="10", nullable=False))

    with op.batch_alter_table("worker", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), server_default="active", nullable=False)
        )
        batch_op.add_column(sa.Column("status_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("worker", schema=None) as batch_op:
        batch_op.drop_column("status_reason")
        batch_op.drop_column("status")

    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_column("max_assignments")

    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
