"""actor moved to

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 17:10:00.000000

An account that announced a ``Move`` to another (whose own document lists it in
``alsoKnownAs``) points to its new account: profiles and the client API's ``moved`` say
where it went. A plain column, added in place (no table rebuild); no foreign key, as for
``localuser.invite_id``: actor rows are never deleted (a deleted account stays, suspended).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("actor", schema=None) as batch_op:
        batch_op.add_column(sa.Column("moved_to_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("actor", schema=None) as batch_op:
        batch_op.drop_column("moved_to_id")
