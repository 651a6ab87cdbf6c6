"""initial catalog

Revision ID: 2026_11_23_initial
Revises:
Create Date: 2026-11-23 15:33:32.054289
"""

import sqlalchemy as sa
from alembic import op

revision = "2026_11_23_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blacklist",
        sa.Column("image_id", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("image_id", name=op.f("pk_blacklist")),
    )
    op.create_table(
        "blob",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("renditions", sa.JSON(), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_blob")),
    )
    op.create_table(
        "class",
        sa.Column("class_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("names", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("class_id", name=op.f("pk_class")),
        sa.UniqueConstraint("key", name=op.f("uq_class_key")),
    )
    op.create_table(
        "run",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("package_version", sa.String(length=32), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_run")),
    )
    op.create_table(
        "source",
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source_id", name=op.f("pk_source")),
        sa.UniqueConstraint("kind", "uri", name="uq_source_kind_uri"),
    )
    op.create_table(
        "image",
        sa.Column("image_id", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("split", sa.String(length=16), nullable=True),
        sa.Column("class_key", sa.String(length=64), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("location", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["sha256"], ["blob.sha256"], name=op.f("fk_image_sha256_blob")),
        sa.PrimaryKeyConstraint("image_id", name=op.f("pk_image")),
    )
    with op.batch_alter_table("image", schema=None) as batch_op:
        batch_op.create_index("ix_image_class_key", ["class_key"], unique=False)
        batch_op.create_index("ix_image_sha256", ["sha256"], unique=False)
        batch_op.create_index("ix_image_status_role", ["status", "role"], unique=False)

    op.create_table(
        "search_query",
        sa.Column("search_query_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("class_key", sa.String(length=64), nullable=False),
        sa.Column("search_key", sa.Text(), nullable=False),
        sa.Column("min_date", sa.String(length=32), nullable=False),
        sa.Column("max_date", sa.String(length=32), nullable=False),
        sa.Column("budget", sa.Integer(), nullable=False),
        sa.Column("next_page", sa.Integer(), nullable=False),
        sa.Column("found", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["search_query.search_query_id"],
            name=op.f("fk_search_query_parent_id_search_query"),
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["source.source_id"], name=op.f("fk_search_query_source_id_source")
        ),
        sa.PrimaryKeyConstraint("search_query_id", name=op.f("pk_search_query")),
        sa.UniqueConstraint(
            "source_id", "class_key", "search_key", "min_date", "max_date", name="uq_search_query_window"
        ),
    )
    op.create_table(
        "candidate",
        sa.Column("image_id", sa.String(length=128), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("search_query_id", sa.Integer(), nullable=True),
        sa.Column("id_search_engine", sa.String(length=64), nullable=True),
        sa.Column("search_key", sa.Text(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("url_type", sa.String(length=16), nullable=True),
        sa.Column("license", sa.String(length=16), nullable=True),
        sa.Column("owner", sa.String(length=128), nullable=True),
        sa.Column("date_taken", sa.String(length=32), nullable=True),
        sa.Column("date_upload_search_engine", sa.String(length=32), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["image_id"], ["image.image_id"], name=op.f("fk_candidate_image_id_image")),
        sa.ForeignKeyConstraint(
            ["search_query_id"],
            ["search_query.search_query_id"],
            name=op.f("fk_candidate_search_query_id_search_query"),
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["source.source_id"], name=op.f("fk_candidate_source_id_source")
        ),
        sa.PrimaryKeyConstraint("image_id", name=op.f("pk_candidate")),
    )
    with op.batch_alter_table("candidate", schema=None) as batch_op:
        batch_op.create_index("ix_candidate_id_search_engine", ["id_search_engine"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("candidate", schema=None) as batch_op:
        batch_op.drop_index("ix_candidate_id_search_engine")

    op.drop_table("candidate")
    op.drop_table("search_query")
    with op.batch_alter_table("image", schema=None) as batch_op:
        batch_op.drop_index("ix_image_status_role")
        batch_op.drop_index("ix_image_sha256")
        batch_op.drop_index("ix_image_class_key")

    op.drop_table("image")
    op.drop_table("source")
    op.drop_table("run")
    op.drop_table("class")
    op.drop_table("blob")
    op.drop_table("blacklist")
