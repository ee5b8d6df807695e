"""outbox claims and chat gaps: a caucus screen sent twice across a crash leaves no copy behind

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.tables

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('chat_gaps',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('chat_key', sa.String(length=64), nullable=False),
    sa.Column('after_id', sa.BigInteger(), nullable=False),
    sa.Column('before_id', sa.BigInteger(), nullable=False),
    sa.Column('at', storage.tables.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chat_gaps'))
    )
    with op.batch_alter_table('chat_gaps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_chat_gaps_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_chat_gaps_chat_key'), ['chat_key'], unique=False)

    with op.batch_alter_table('outbox', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('claimed_until', storage.tables.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('after_message_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('uncertain', sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table('chat_messages', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('deleted', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('chat_messages', schema=None) as batch_op:
        batch_op.drop_column('deleted')

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('uncertain')
        batch_op.drop_column('after_message_id')
        batch_op.drop_column('claimed_until')

    with op.batch_alter_table('chat_gaps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chat_gaps_chat_key'))
        batch_op.drop_index(batch_op.f('ix_chat_gaps_at'))

    op.drop_table('chat_gaps')
