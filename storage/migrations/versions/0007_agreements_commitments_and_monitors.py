"""agreements and their versions, the parties' answers, commitments with their reports and reviews, monitors
and their observations

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 16:01:30.317487
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.tables

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agreements',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.tables.UTCDateTime(), nullable=False),
    sa.Column('confirmed_at', storage.tables.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_agreements_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agreements')),
    sa.UniqueConstraint('case_id', 'number', name=op.f('uq_agreements_case_id'))
    )
    with op.batch_alter_table('agreements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agreements_case_id'), ['case_id'], unique=False)

    op.create_table('monitors',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('label_enc', sa.LargeBinary(), nullable=False),
    sa.Column('invite_hash', sa.String(length=64), nullable=False),
    sa.Column('invite_expires_at', storage.tables.UTCDateTime(), nullable=False),
    sa.Column('user_hash', sa.String(length=64), nullable=True),
    sa.Column('chat_enc', sa.LargeBinary(), nullable=True),
    sa.Column('joined_at', storage.tables.UTCDateTime(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_monitors_case_id_cases')),
    sa.ForeignKeyConstraint(['key_id'], ['data_keys.id'], name=op.f('fk_monitors_key_id_data_keys')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitors')),
    sa.UniqueConstraint('case_id', 'user_hash', name=op.f('uq_monitors_case_id')),
    sa.UniqueConstraint('invite_hash', name=op.f('uq_monitors_invite_hash'))
    )
    with op.batch_alter_table('monitors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_monitors_case_id'), ['case_id'], unique=False)

    op.create_table('agreement_versions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('agreement_id', sa.String(length=32), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('text_enc', sa.LargeBinary(), nullable=False),
    sa.Column('translations_enc', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', storage.tables.UTCDateTime(), nullable=False),
    sa.Column('circulated_at', storage.tables.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreements.id'], name=op.f('fk_agreement_versions_agreement_id_agreements')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_agreement_versions_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agreement_versions')),
    sa.UniqueConstraint('agreement_id', 'number', name=op.f('uq_agreement_versions_agreement_id'))
    )
    with op.batch_alter_table('agreement_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agreement_versions_case_id'), ['case_id'], unique=False)

    op.create_table('commitments',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('agreement_id', sa.String(length=32), nullable=False),
    sa.Column('ordinal', sa.Integer(), nullable=False),
    sa.Column('owner_seat_id', sa.String(length=32), nullable=False),
    sa.Column('what_enc', sa.LargeBinary(), nullable=False),
    sa.Column('verification_enc', sa.LargeBinary(), nullable=False),
    sa.Column('due_at', storage.tables.UTCDateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('last_reminded_on', sa.Date(), nullable=True),
    sa.Column('created_at', storage.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreements.id'], name=op.f('fk_commitments_agreement_id_agreements')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_commitments_case_id_cases')),
    sa.ForeignKeyConstraint(['owner_seat_id'], ['seats.id'], name=op.f('fk_commitments_owner_seat_id_seats')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commitments'))
    )
    with op.batch_alter_table('commitments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_commitments_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_commitments_due_at'), ['due_at'], unique=False)

    op.create_table('agreement_responses',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('version_id', sa.String(length=32), nullable=False),
    sa.Column('seat_id', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=True),
    sa.Column('comment_enc', sa.LargeBinary(), nullable=True),
    sa.Column('responded_at', storage.tables.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_agreement_responses_case_id_cases')),
    sa.ForeignKeyConstraint(['seat_id'], ['seats.id'], name=op.f('fk_agreement_responses_seat_id_seats')),
    sa.ForeignKeyConstraint(['version_id'], ['agreement_versions.id'], name=op.f('fk_agreement_responses_version_id_agreement_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agreement_responses')),
    sa.UniqueConstraint('version_id', 'seat_id', name=op.f('uq_agreement_responses_version_id'))
    )
    with op.batch_alter_table('agreement_responses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agreement_responses_case_id'), ['case_id'], unique=False)

    op.create_table('commitment_reports',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('commitment_id', sa.String(length=32), nullable=False),
    sa.Column('seat_id', sa.String(length=32), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=True),
    sa.Column('comment_enc', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', storage.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_commitment_reports_case_id_cases')),
    sa.ForeignKeyConstraint(['commitment_id'], ['commitments.id'], name=op.f('fk_commitment_reports_commitment_id_commitments')),
    sa.ForeignKeyConstraint(['seat_id'], ['seats.id'], name=op.f('fk_commitment_reports_seat_id_seats')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commitment_reports')),
    sa.UniqueConstraint('commitment_id', 'number', name=op.f('uq_commitment_reports_commitment_id'))
    )
    with op.batch_alter_table('commitment_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_commitment_reports_case_id'), ['case_id'], unique=False)

    op.create_table('commitment_reviews',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('commitment_id', sa.String(length=32), nullable=False),
    sa.Column('report_number', sa.Integer(), nullable=False),
    sa.Column('seat_id', sa.String(length=32), nullable=False),
    sa.Column('verdict', sa.String(length=16), nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=True),
    sa.Column('comment_enc', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', storage.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_commitment_reviews_case_id_cases')),
    sa.ForeignKeyConstraint(['commitment_id'], ['commitments.id'], name=op.f('fk_commitment_reviews_commitment_id_commitments')),
    sa.ForeignKeyConstraint(['seat_id'], ['seats.id'], name=op.f('fk_commitment_reviews_seat_id_seats')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commitment_reviews')),
    sa.UniqueConstraint('commitment_id', 'report_number', 'seat_id', name=op.f('uq_commitment_reviews_commitment_id'))
    )
    with op.batch_alter_table('commitment_reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_commitment_reviews_case_id'), ['case_id'], unique=False)

    op.create_table('observations',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('commitment_id', sa.String(length=32), nullable=False),
    sa.Column('monitor_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('text_enc', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', storage.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_observations_case_id_cases')),
    sa.ForeignKeyConstraint(['commitment_id'], ['commitments.id'], name=op.f('fk_observations_commitment_id_commitments')),
    sa.ForeignKeyConstraint(['monitor_id'], ['monitors.id'], name=op.f('fk_observations_monitor_id_monitors')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_observations'))
    )
    with op.batch_alter_table('observations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_observations_case_id'), ['case_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('observations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_observations_case_id'))

    op.drop_table('observations')
    with op.batch_alter_table('commitment_reviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_commitment_reviews_case_id'))

    op.drop_table('commitment_reviews')
    with op.batch_alter_table('commitment_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_commitment_reports_case_id'))

    op.drop_table('commitment_reports')
    with op.batch_alter_table('agreement_responses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agreement_responses_case_id'))

    op.drop_table('agreement_responses')
    with op.batch_alter_table('commitments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_commitments_due_at'))
        batch_op.drop_index(batch_op.f('ix_commitments_case_id'))

    op.drop_table('commitments')
    with op.batch_alter_table('agreement_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agreement_versions_case_id'))

    op.drop_table('agreement_versions')
    with op.batch_alter_table('monitors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_monitors_case_id'))

    op.drop_table('monitors')
    with op.batch_alter_table('agreements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agreements_case_id'))

    op.drop_table('agreements')
