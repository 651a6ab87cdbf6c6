"""questions and answers

Revision ID: 2026_11_23_answers
Revises: 2026_11_23_initial
Create Date: 2026-11-23 15:56:49.099742
"""

import sqlalchemy as sa
from alembic import op

revision = "2026_11_23_answers"
down_revision = "2026_11_23_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task",
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("class_key", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_task")),
        sa.UniqueConstraint("uuid", name=op.f("uq_task_uuid")),
    )
    op.create_table(
        "worker",
        sa.Column("worker_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("worker_id", name=op.f("pk_worker")),
        sa.UniqueConstraint("external_id", name=op.f("uq_worker_external_id")),
    )
    op.create_table(
        "assignment",
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["task_id"], ["task.task_id"], name=op.f("fk_assignment_task_id_task")),
        sa.ForeignKeyConstraint(
            ["worker_id"], ["worker.worker_id"], name=op.f("fk_assignment_worker_id_worker")
        ),
        sa.PrimaryKeyConstraint("assignment_id", name=op.f("pk_assignment")),
        sa.UniqueConstraint("task_id", "worker_id", name="uq_assignment_task_worker"),
    )
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.create_index("ix_assignment_worker_id", ["worker_id"], unique=False)

    op.create_table(
        "question",
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.String(length=128), nullable=False),
        sa.Column("class_key", sa.String(length=64), nullable=False),
        sa.Column("is_golden", sa.Boolean(), nullable=False),
        sa.Column("is_original_label", sa.Boolean(), nullable=False),
        sa.Column("published_score", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(["image_id"], ["image.image_id"], name=op.f("fk_question_image_id_image")),
        sa.PrimaryKeyConstraint("question_id", name=op.f("pk_question")),
        sa.UniqueConstraint("image_id", "class_key", name="uq_question_image_class"),
    )
    op.create_table(
        "answer",
        sa.Column("answer_id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.SmallInteger(), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["assignment_id"], ["assignment.assignment_id"], name=op.f("fk_answer_assignment_id_assignment")
        ),
        sa.ForeignKeyConstraint(
            ["question_id"], ["question.question_id"], name=op.f("fk_answer_question_id_question")
        ),
        sa.ForeignKeyConstraint(["worker_id"], ["worker.worker_id"], name=op.f("fk_answer_worker_id_worker")),
        sa.PrimaryKeyConstraint("answer_id", name=op.f("pk_answer")),
        sa.UniqueConstraint("assignment_id", "question_id", name="uq_answer_assignment_question"),
    )
    with op.batch_alter_table("answer", schema=None) as batch_op:
        batch_op.create_index("ix_answer_question_id", ["question_id"], unique=False)
        batch_op.create_index("ix_answer_worker_id", ["worker_id"], unique=False)

    op.create_table(
        "score",
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("annotations", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["question_id"], ["question.question_id"], name=op.f("fk_score_question_id_question")
        ),
        sa.ForeignKeyConstraint(["run_id"], ["run.run_id"], name=op.f("fk_score_run_id_run")),
        sa.PrimaryKeyConstraint("question_id", "method", name=op.f("pk_score")),
    )
    op.create_table(
        "task_question",
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["question_id"], ["question.question_id"], name=op.f("fk_task_question_question_id_question")
        ),
        sa.ForeignKeyConstraint(["task_id"], ["task.task_id"], name=op.f("fk_task_question_task_id_task")),
        sa.PrimaryKeyConstraint("task_id", "position", name=op.f("pk_task_question")),
    )
    with op.batch_alter_table("task_question", schema=None) as batch_op:
        batch_op.create_index("ix_task_question_question_id", ["question_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("task_question", schema=None) as batch_op:
        batch_op.drop_index("ix_task_question_question_id")

    op.drop_table("task_question")
    op.drop_table("score")
    with op.batch_alter_table("answer", schema=None) as batch_op:
        batch_op.drop_index("ix_answer_worker_id")
        batch_op.drop_index("ix_answer_question_id")

    op.drop_table("answer")
    op.drop_table("question")
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.drop_index("ix_assignment_worker_id")

    op.drop_table("assignment")
    op.drop_table("worker")
    op.drop_table("task")
