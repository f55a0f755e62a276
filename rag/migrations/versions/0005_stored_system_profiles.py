"""stored system profiles (rag.profile: each stored version of a workspace's profile)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 10:30:52.386519

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'system_profiles',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('workspace', sa.String(length=64), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('actor', sa.String(length=256), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['workspace'], ['workspaces.name'], name='fk_system_profiles_workspace'),
        sa.PrimaryKeyConstraint('id', name='pk_system_profiles'),
        sa.UniqueConstraint('workspace', 'version', name='uq_system_profiles_workspace_version'),
    )
    with op.batch_alter_table('system_profiles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_system_profiles_workspace'), ['workspace'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('system_profiles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_system_profiles_workspace'))
    op.drop_table('system_profiles')
