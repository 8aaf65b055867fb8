"""recount replies

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 11:10:00.000000

A parent's ``replies_count`` now counts its public and unlisted replies only, as on
Mastodon (``storage.posts.count_reply``): the count is shown to everyone, and a
followers-only or direct reply must not tell people who cannot read it that it exists.
Rows written before counted every reply, so the counts are computed again from the
replies themselves (one pass over ``post``, each count an index search of
``ix_post_in_reply_to_id``). Downgrading keeps the new counts: the old rule is the bug.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE post SET replies_count = ("
        " SELECT count(*) FROM post AS reply"
        " WHERE reply.in_reply_to_id = post.id"
        " AND reply.visibility IN ('public', 'unlisted'))"
        " WHERE replies_count <> ("
        " SELECT count(*) FROM post AS reply"
        " WHERE reply.in_reply_to_id = post.id"
        " AND reply.visibility IN ('public', 'unlisted'))"
    )


def downgrade() -> None:
    pass
