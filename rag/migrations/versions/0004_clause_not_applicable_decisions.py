"""clause not-applicable decisions: a person's decision that a clause does not apply, with the reason
(rag/applicability.py; the Statement of Applicability and SOC 2 DC8 read it)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 10:23:01.110792

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('not_applicable',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace', sa.String(length=64), nullable=False),
    sa.Column('framework', sa.String(length=64), nullable=False),
    sa.Column('clause_id', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('actor', sa.String(length=256), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('workspace', 'framework', 'clause_id', name='uq_not_applicable_clause')
    )
    with op.batch_alter_table('not_applicable', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_not_applicable_workspace'), ['workspace'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('not_applicable', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_not_applicable_workspace'))

    op.drop_table('not_applicable')
