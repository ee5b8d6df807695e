"""hardening: audit trail, chat messages, blocked chats, case closing and erasing settings

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 06:05:31.830381
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.tables

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_events',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('at', storage.tables.UTCDateTime(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=16), nullable=False),
    sa.Column('case_id', sa.String(length=32), nullable=True),
    sa.Column('seat_id', sa.String(length=32), nullable=True),
    sa.Column('detail', sa.String(length=1000), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_seat_id'), ['seat_id'], unique=False)

    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head'))
    )
    op.create_table('blocked_chats',
    sa.Column('chat_key', sa.String(length=64), nullable=False),
    sa.Column('blocked_at', storage.tables.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('chat_key', name=op.f('pk_blocked_chats'))
    )
    op.create_table('chat_messages',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('chat_key', sa.String(length=64), nullable=False),
    sa.Column('message_id', sa.BigInteger(), nullable=False),
    sa.Column('from_bot', sa.Boolean(), nullable=False),
    sa.Column('sensitive', sa.Boolean(), nullable=False),
    sa.Column('at', storage.tables.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chat_messages')),
    sa.UniqueConstraint('chat_key', 'message_id', name=op.f('uq_chat_messages_chat_key'))
    )
    with op.batch_alter_table('chat_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_chat_messages_at'), ['at'], unique=False)

    with op.batch_alter_table('cases', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('erase_messages', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('closed_at', storage.tables.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_cases_closed_at'), ['closed_at'], unique=False)

    with op.batch_alter_table('grievances', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('closed_at', storage.tables.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_grievances_closed_at'), ['closed_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('grievances', schema=None, recreate='never') as batch_op:
        batch_op.drop_index(batch_op.f('ix_grievances_closed_at'))
        batch_op.drop_column('closed_at')

    with op.batch_alter_table('cases', schema=None, recreate='never') as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_closed_at'))
        batch_op.drop_column('closed_at')
        batch_op.drop_column('erase_messages')

    with op.batch_alter_table('chat_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chat_messages_at'))

    op.drop_table('chat_messages')
    op.drop_table('blocked_chats')
    op.drop_table('audit_head')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_seat_id'))
        batch_op.drop_index(batch_op.f('ix_audit_events_case_id'))

    op.drop_table('audit_events')
