"""passage and citation flags: text addressed to a reviewer or a model (rag.instructions)

Passages carry the flags found at ingestion; citations carry their passage's flags and whether a reviewer
confirmed the text by quoting it in an edit. Existing rows start with no flags; the passages of stored
versions are then checked once here (citations are checked by their quote whenever they are read).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 10:40:14
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # a plain ADD COLUMN (SQLite allows it with a default): a batch copy of `passages` would trip the foreign
    # key from `citations`
    for table in ('citations', 'passages'):
        op.add_column(table, sa.Column('flags', sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
    _flag_stored_passages(op.get_bind())


def _flag_stored_passages(bind) -> None:
    from rag.instructions import flags_for

    update = sa.text("UPDATE passages SET flags = :flags WHERE id = :id").bindparams(
        sa.bindparam("flags", type_=sa.JSON()))
    for version_id in bind.execute(sa.text("SELECT id FROM document_versions")).scalars().all():
        text = bind.execute(sa.text("SELECT text FROM document_versions WHERE id = :v"), {"v": version_id}).scalar()
        rows = bind.execute(sa.text('SELECT id, start, "end" FROM passages WHERE version_id = :v'), {"v": version_id})
        for passage_id, start, end in rows.all():
            flags = flags_for((text or "")[start:end])
            if flags:
                bind.execute(update, {"flags": flags, "id": passage_id})


def downgrade() -> None:
    with op.batch_alter_table('passages', schema=None) as batch_op:
        batch_op.drop_column('flags')
    with op.batch_alter_table('citations', schema=None) as batch_op:
        batch_op.drop_column('flags')
