"""complete caucus: case settings, options and scales, co-mediators, notes, suggestions, reminders

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 00:24:52.769179
"""

from __future__ import annotations

import uuid
from typing import Literal

import sqlalchemy as sa
from alembic import op

import storage.tables

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# Columns are added and dropped in place (ALTER TABLE), never by rebuilding a table: on SQLite a
# rebuild drops the old table, which the foreign keys of its child rows forbid once data exists.
_IN_PLACE: Literal["never"] = "never"


def upgrade() -> None:
    with op.batch_alter_table('buttons', schema=None, recreate=_IN_PLACE) as batch_op:
        batch_op.add_column(sa.Column('key_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('argument_enc', sa.LargeBinary(), nullable=True))
    with op.batch_alter_table('cases', schema=None, recreate=_IN_PLACE) as batch_op:
        batch_op.add_column(sa.Column('priority_mode', sa.String(length=16), server_default='ranking', nullable=False))
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), server_default='UTC', nullable=False))
        batch_op.add_column(sa.Column('deadline_at', storage.tables.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('late_reported_at', storage.tables.UTCDateTime(), nullable=True))

    with op.batch_alter_table('issues', schema=None, recreate=_IN_PLACE) as batch_op:
        batch_op.add_column(sa.Column('scale_enc', sa.LargeBinary(), nullable=True))

    with op.batch_alter_table('seats', schema=None, recreate=_IN_PLACE) as batch_op:
        batch_op.add_column(sa.Column('sub', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('editing', sa.Boolean(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('join_code_enc', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('last_reminded_on', sa.Date(), nullable=True))

    with op.batch_alter_table('users', schema=None, recreate=_IN_PLACE) as batch_op:
        batch_op.add_column(sa.Column('pending', sa.String(length=80), nullable=True))

    op.create_table('case_mediators',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('user_hash', sa.String(length=64), nullable=True),
    sa.Column('role', sa.String(length=8), nullable=False),
    sa.Column('invite_hash', sa.String(length=64), nullable=True),
    sa.Column('invite_expires_at', storage.tables.UTCDateTime(), nullable=True),
    sa.Column('joined_at', storage.tables.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_mediators_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_mediators')),
    sa.UniqueConstraint('case_id', 'user_hash', name=op.f('uq_case_mediators_case_id')),
    sa.UniqueConstraint('invite_hash', name=op.f('uq_case_mediators_invite_hash'))
    )
    with op.batch_alter_table('case_mediators', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_mediators_case_id'), ['case_id'], unique=False)

    op.create_table('options',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('issue_id', sa.String(length=32), nullable=False),
    sa.Column('ordinal', sa.Integer(), nullable=False),
    sa.Column('text_enc', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_options_case_id_cases')),
    sa.ForeignKeyConstraint(['issue_id'], ['issues.id'], name=op.f('fk_options_issue_id_issues')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_options'))
    )
    with op.batch_alter_table('options', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_options_case_id'), ['case_id'], unique=False)

    op.create_table('notes',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('seat_id', sa.String(length=32), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('text_enc', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', storage.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_notes_case_id_cases')),
    sa.ForeignKeyConstraint(['seat_id'], ['seats.id'], name=op.f('fk_notes_seat_id_seats')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notes'))
    )
    with op.batch_alter_table('notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notes_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notes_seat_id'), ['seat_id'], unique=False)

    op.create_table('suggestions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('seat_id', sa.String(length=32), nullable=False),
    sa.Column('issue_id', sa.String(length=32), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('text_enc', sa.LargeBinary(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_at', storage.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_suggestions_case_id_cases')),
    sa.ForeignKeyConstraint(['issue_id'], ['issues.id'], name=op.f('fk_suggestions_issue_id_issues')),
    sa.ForeignKeyConstraint(['seat_id'], ['seats.id'], name=op.f('fk_suggestions_seat_id_seats')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suggestions'))
    )
    with op.batch_alter_table('suggestions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_suggestions_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_suggestions_seat_id'), ['seat_id'], unique=False)

    _backfill_lead_mediators()


def _backfill_lead_mediators() -> None:
    """Every existing case gets its lead mediator's membership row (joined when the case was created)."""
    cases = sa.table(
        'cases', sa.column('id', sa.String), sa.column('mediator_hash', sa.String),
        sa.column('created_at', storage.tables.UTCDateTime()),
    )
    mediators = sa.table(
        'case_mediators', sa.column('id', sa.String), sa.column('case_id', sa.String),
        sa.column('user_hash', sa.String), sa.column('role', sa.String),
        sa.column('joined_at', storage.tables.UTCDateTime()),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(cases.c.id, cases.c.mediator_hash, cases.c.created_at)).all()
    if rows:
        connection.execute(mediators.insert(), [
            {"id": uuid.uuid4().hex, "case_id": row.id, "user_hash": row.mediator_hash, "role": "lead",
             "joined_at": row.created_at}
            for row in rows
        ])


def downgrade() -> None:
    with op.batch_alter_table('buttons', schema=None, recreate=_IN_PLACE) as batch_op:
        batch_op.drop_column('argument_enc')
        batch_op.drop_column('key_id')
    with op.batch_alter_table('suggestions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_suggestions_seat_id'))
        batch_op.drop_index(batch_op.f('ix_suggestions_case_id'))

    op.drop_table('suggestions')
    with op.batch_alter_table('notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notes_seat_id'))
        batch_op.drop_index(batch_op.f('ix_notes_case_id'))

    op.drop_table('notes')
    with op.batch_alter_table('options', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_options_case_id'))

    op.drop_table('options')
    with op.batch_alter_table('case_mediators', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_mediators_case_id'))

    op.drop_table('case_mediators')

    with op.batch_alter_table('users', schema=None, recreate=_IN_PLACE) as batch_op:
        batch_op.drop_column('pending')

    with op.batch_alter_table('seats', schema=None, recreate=_IN_PLACE) as batch_op:
        batch_op.drop_column('last_reminded_on')
        batch_op.drop_column('join_code_enc')
        batch_op.drop_column('editing')
        batch_op.drop_column('sub')

    with op.batch_alter_table('issues', schema=None, recreate=_IN_PLACE) as batch_op:
        batch_op.drop_column('scale_enc')

    with op.batch_alter_table('cases', schema=None, recreate=_IN_PLACE) as batch_op:
        batch_op.drop_column('late_reported_at')
        batch_op.drop_column('deadline_at')
        batch_op.drop_column('timezone')
        batch_op.drop_column('priority_mode')
