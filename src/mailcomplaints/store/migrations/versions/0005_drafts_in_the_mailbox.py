"""drafts: who last edited them, their mailbox labels, why sending failed

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 15:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('drafts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('edited_by', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('labels', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('failure', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('drafts', schema=None) as batch_op:
        batch_op.drop_column('failure')
        batch_op.drop_column('labels')
        batch_op.drop_column('edited_by')
