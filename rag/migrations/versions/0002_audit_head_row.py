"""audit head row: the chain's head exists before the first event

Appending locks the head row (SELECT ... FOR UPDATE); when it did not exist yet, two first appends at once on
PostgreSQL both inserted it and one failed. An empty chain gets its head here; a chain with events but no head
is left alone, so `audit verify` still reports it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 09:40:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute(sa.text("INSERT INTO audit_head (id, seq, hash) SELECT 1, 0, :genesis "
                       "WHERE NOT EXISTS (SELECT 1 FROM audit_head) AND NOT EXISTS (SELECT 1 FROM audit_events)")
               .bindparams(genesis="0" * 64))


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM audit_head WHERE seq = 0"))
