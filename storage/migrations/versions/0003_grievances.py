"""grievances: filing, references, triage history; each account's time zone

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 04:30:52.942704
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.tables

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), nullable=True))
    op.create_table('grievances',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('reference_hash', sa.String(length=64), nullable=False),
    sa.Column('reference_enc', sa.LargeBinary(), nullable=False),
    sa.Column('submitter_hash', sa.String(length=64), nullable=False),
    sa.Column('chat_enc', sa.LargeBinary(), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('anonymous', sa.Boolean(), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=True),
    sa.Column('urgency', sa.String(length=16), nullable=True),
    sa.Column('content_enc', sa.LargeBinary(), nullable=False),
    sa.Column('step', sa.String(length=16), nullable=False),
    sa.Column('editing', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.tables.UTCDateTime(), nullable=False),
    sa.Column('submitted_at', storage.tables.UTCDateTime(), nullable=True),
    sa.Column('updated_at', storage.tables.UTCDateTime(), nullable=False),
    sa.Column('alerted_at', storage.tables.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['key_id'], ['data_keys.id'], name=op.f('fk_grievances_key_id_data_keys')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grievances')),
    sa.UniqueConstraint('reference_hash', name=op.f('uq_grievances_reference_hash'))
    )
    with op.batch_alter_table('grievances', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grievances_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_grievances_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_grievances_submitter_hash'), ['submitter_hash'], unique=False)

    op.create_table('grievance_events',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('grievance_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('officer_hash', sa.String(length=64), nullable=False),
    sa.Column('message_enc', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', storage.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['grievance_id'], ['grievances.id'], name=op.f('fk_grievance_events_grievance_id_grievances')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grievance_events'))
    )
    with op.batch_alter_table('grievance_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grievance_events_grievance_id'), ['grievance_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('grievance_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grievance_events_grievance_id'))

    op.drop_table('grievance_events')
    with op.batch_alter_table('grievances', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grievances_submitter_hash'))
        batch_op.drop_index(batch_op.f('ix_grievances_status'))
        batch_op.drop_index(batch_op.f('ix_grievances_created_at'))

    op.drop_table('grievances')
    with op.batch_alter_table('users', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('timezone')
