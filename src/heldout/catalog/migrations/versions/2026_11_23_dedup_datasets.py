"""dedup, datasets and review

Revision ID: 2026_11_23_dedup_datasets
Revises: 2026_11_23_crowd
Create Date: 2026-11-23 18:03:18.525685
"""

import sqlalchemy as sa
from alembic import op

revision = "2026_11_23_dedup_datasets"
down_revision = "2026_11_23_crowd"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dataset",
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("variant", sa.String(length=32), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("starting_from", sa.String(length=128), nullable=True),
        sa.Column("seed", sa.Integer(), nullable=True),
        sa.Column("is_valid", sa.Boolean(), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["run.run_id"], name=op.f("fk_dataset_run_id_run")),
        sa.PrimaryKeyConstraint("dataset_id", name=op.f("pk_dataset")),
        sa.UniqueConstraint("name", name=op.f("uq_dataset_name")),
    )
    op.create_table(
        "threshold",
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("origin", sa.String(length=32), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["run.run_id"], name=op.f("fk_threshold_run_id_run")),
        sa.PrimaryKeyConstraint("metric", name=op.f("pk_threshold")),
    )
    op.create_table(
        "class_review",
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("class_key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reviewer", sa.String(length=128), nullable=False),
        sa.Column("carried_from", sa.String(length=128), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["dataset.dataset_id"], name=op.f("fk_class_review_dataset_id_dataset")
        ),
        sa.PrimaryKeyConstraint("dataset_id", "class_key", name=op.f("pk_class_review")),
    )
    op.create_table(
        "dataset_image",
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("image_id", sa.String(length=128), nullable=False),
        sa.Column("class_key", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["dataset.dataset_id"], name=op.f("fk_dataset_image_dataset_id_dataset")
        ),
        sa.ForeignKeyConstraint(
            ["image_id"], ["image.image_id"], name=op.f("fk_dataset_image_image_id_image")
        ),
        sa.PrimaryKeyConstraint("dataset_id", "position", name=op.f("pk_dataset_image")),
    )
    with op.batch_alter_table("dataset_image", schema=None) as batch_op:
        batch_op.create_index("ix_dataset_image_image_id", ["image_id"], unique=False)

    op.create_table(
        "duplicate_override",
        sa.Column("image_id", sa.String(length=128), nullable=False),
        sa.Column("reviewer", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"], ["image.image_id"], name=op.f("fk_duplicate_override_image_id_image")
        ),
        sa.PrimaryKeyConstraint("image_id", name=op.f("pk_duplicate_override")),
    )
    op.create_table(
        "duplicate_pair",
        sa.Column("image_id", sa.String(length=128), nullable=False),
        sa.Column("other_id", sa.String(length=128), nullable=False),
        sa.Column("origin", sa.String(length=32), nullable=False),
        sa.Column("reviewer", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"], ["image.image_id"], name=op.f("fk_duplicate_pair_image_id_image")
        ),
        sa.ForeignKeyConstraint(
            ["other_id"], ["image.image_id"], name=op.f("fk_duplicate_pair_other_id_image")
        ),
        sa.PrimaryKeyConstraint("image_id", "other_id", name=op.f("pk_duplicate_pair")),
    )
    with op.batch_alter_table("duplicate_pair", schema=None) as batch_op:
        batch_op.create_index("ix_duplicate_pair_other_id", ["other_id"], unique=False)

    op.create_table(
        "duplicate_status",
        sa.Column("image_id", sa.String(length=128), nullable=False),
        sa.Column("component", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["image_id"], ["image.image_id"], name=op.f("fk_duplicate_status_image_id_image")
        ),
        sa.ForeignKeyConstraint(["run_id"], ["run.run_id"], name=op.f("fk_duplicate_status_run_id_run")),
        sa.PrimaryKeyConstraint("image_id", name=op.f("pk_duplicate_status")),
    )
    op.create_table(
        "image_flag",
        sa.Column("image_id", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("reviewer", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["image_id"], ["image.image_id"], name=op.f("fk_image_flag_image_id_image")),
        sa.PrimaryKeyConstraint("image_id", name=op.f("pk_image_flag")),
    )
    op.create_table(
        "label_review",
        sa.Column("image_id", sa.String(length=128), nullable=False),
        sa.Column("class_key", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reviewer", sa.String(length=128), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"], ["image.image_id"], name=op.f("fk_label_review_image_id_image")
        ),
        sa.PrimaryKeyConstraint("image_id", "class_key", name=op.f("pk_label_review")),
    )
    op.create_table(
        "neighbour",
        sa.Column("image_id", sa.String(length=128), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("rank", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("neighbour_id", sa.String(length=128), nullable=False),
        sa.Column("distance", sa.Double(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["image_id"], ["image.image_id"], name=op.f("fk_neighbour_image_id_image")),
        sa.ForeignKeyConstraint(
            ["neighbour_id"], ["image.image_id"], name=op.f("fk_neighbour_neighbour_id_image")
        ),
        sa.ForeignKeyConstraint(["run_id"], ["run.run_id"], name=op.f("fk_neighbour_run_id_run")),
        sa.PrimaryKeyConstraint("image_id", "metric", "rank", name=op.f("pk_neighbour")),
    )
    with op.batch_alter_table("neighbour", schema=None) as batch_op:
        batch_op.create_index("ix_neighbour_neighbour_id", ["neighbour_id"], unique=False)

    op.create_table(
        "neighbour_review",
        sa.Column("image_id", sa.String(length=128), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("neighbour_id", sa.String(length=128), nullable=False),
        sa.Column("reviewer", sa.String(length=128), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"], ["image.image_id"], name=op.f("fk_neighbour_review_image_id_image")
        ),
        sa.ForeignKeyConstraint(
            ["neighbour_id"], ["image.image_id"], name=op.f("fk_neighbour_review_neighbour_id_image")
        ),
        sa.PrimaryKeyConstraint("image_id", "metric", "neighbour_id", name=op.f("pk_neighbour_review")),
    )


def downgrade() -> None:
    op.drop_table("neighbour_review")
    with op.batch_alter_table("neighbour", schema=None) as batch_op:
        batch_op.drop_index("ix_neighbour_neighbour_id")

    op.drop_table("neighbour")
    op.drop_table("label_review")
    op.drop_table("image_flag")
    op.drop_table("duplicate_status")
    with op.batch_alter_table("duplicate_pair", schema=None) as batch_op:
        batch_op.drop_index("ix_duplicate_pair_other_id")

    op.drop_table("duplicate_pair")
    op.drop_table("duplicate_override")
    with op.batch_alter_table("dataset_image", schema=None) as batch_op:
        batch_op.drop_index("ix_dataset_image_image_id")

    op.drop_table("dataset_image")
    op.drop_table("class_review")
    op.drop_table("threshold")
    op.drop_table("dataset")
