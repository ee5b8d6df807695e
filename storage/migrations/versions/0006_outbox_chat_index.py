"""outbox index by chat: finding a chat's earlier waiting message no longer scans every waiting message

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 16:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None, recreate='never') as batch_op:
        batch_op.create_index('ix_outbox_chat_waiting', ['chat_key', 'status', 'seq'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None, recreate='never') as batch_op:
        batch_op.drop_index('ix_outbox_chat_waiting')
