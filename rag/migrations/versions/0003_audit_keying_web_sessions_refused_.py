"""audit keying, web sessions, refused-request counters

Three new tables, nothing altered: `audit_epochs` (from which event on the audit chain is keyed, HMAC-SHA256,
and with which key; a chain written before it stays plain sha256 up to there), `web_sessions` (server-side web
sign-ins: the hash of the cookie's id, the key, the CSRF token, expiry, revocation) and `denied_requests`
(refused requests counted per client, minute and outcome, apart from the audit chain).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 10:13:58
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('audit_epochs',
                    sa.Column('from_seq', sa.Integer(), nullable=False),
                    sa.Column('scheme', sa.String(length=32), nullable=False),
                    sa.Column('key_id', sa.String(length=32), nullable=False),
                    sa.Column('sealed', sa.Boolean(), nullable=False),
                    sa.PrimaryKeyConstraint('from_seq', name='pk_audit_epochs'))
    op.create_table('denied_requests',
                    sa.Column('client', sa.String(length=64), nullable=False),
                    sa.Column('window', sa.DateTime(timezone=True), nullable=False),
                    sa.Column('outcome', sa.String(length=32), nullable=False),
                    sa.Column('count', sa.Integer(), nullable=False),
                    sa.Column('actor', sa.String(length=256), nullable=False),
                    sa.Column('last_target', sa.String(length=256), nullable=False),
                    sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
                    sa.PrimaryKeyConstraint('client', 'window', 'outcome', name='pk_denied_requests'))
    op.create_table('web_sessions',
                    sa.Column('id_hash', sa.String(length=64), nullable=False),
                    sa.Column('key_id', sa.Integer(), nullable=False),
                    sa.Column('csrf', sa.String(length=64), nullable=False),
                    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
                    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
                    sa.Column('revoked', sa.Boolean(), nullable=False),
                    sa.ForeignKeyConstraint(['key_id'], ['api_keys.id'], name='fk_web_sessions_key_id'),
                    sa.PrimaryKeyConstraint('id_hash', name='pk_web_sessions'))
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_sessions_key_id'), ['key_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_sessions_key_id'))
    op.drop_table('web_sessions')
    op.drop_table('denied_requests')
    op.drop_table('audit_epochs')
