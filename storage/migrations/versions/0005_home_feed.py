"""home feed

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 04:50:00.000000

Home timelines read a per-account feed (``home_feed_entry``) instead of walking every
post. The table is filled here from what the database already holds: for each local
account the newest 800 lines of its home (its own posts and boosts, the posts and boosts
of the accounts it follows), as Mastodon builds a feed when it is missing. The SQL is
written out here, not imported, so this migration stays what it was when the code moves.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BACKFILL_PER_ACCOUNT = 800

# One account's newest lines: own posts (any visibility), followed accounts' posts that
# followers may see, and boosts (own and followed accounts') of public or unlisted posts.
# On SQLite, ``+p.visibility`` makes the column a filter, not a way in (without statistics
# the planner would read every public post); PostgreSQL has no unary plus for text and
# plans with statistics. Duplicates are skipped with each dialect's own words.
BACKFILL = """
INSERT {or_ignore} INTO home_feed_entry (owner_id, entry_id, post_id, boost_id, via_id)
SELECT CAST(:owner AS BIGINT), entry_id, post_id, boost_id, via_id FROM (
    SELECT p.id AS entry_id, p.id AS post_id, NULL AS boost_id, p.actor_id AS via_id
    FROM post p WHERE p.actor_id = :owner
    UNION ALL
    SELECT p.id, p.id, NULL, p.actor_id
    FROM follow f JOIN post p ON p.actor_id = f.followee_id
    WHERE f.follower_id = :owner AND f.state = 'accepted'
      AND {plus}p.visibility IN ('public', 'unlisted', 'followers')
    UNION ALL
    SELECT b.id, b.post_id, b.id, b.actor_id
    FROM boost b JOIN post p ON p.id = b.post_id
    WHERE (b.actor_id = :owner OR b.actor_id IN (
        SELECT followee_id FROM follow WHERE follower_id = :owner AND state = 'accepted'))
      AND {plus}p.visibility IN ('public', 'unlisted')
) AS lines
ORDER BY entry_id DESC
LIMIT :limit
{on_conflict}"""


def backfill_sql(dialect: str) -> str:
    if dialect == "sqlite":
        return BACKFILL.format(or_ignore="OR IGNORE", plus="+", on_conflict="")
    return BACKFILL.format(or_ignore="", plus="", on_conflict="ON CONFLICT DO NOTHING\n")


def upgrade() -> None:
    op.create_table(
        "home_feed_entry",
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("post_id", sa.BigInteger(), nullable=False),
        sa.Column("boost_id", sa.BigInteger(), nullable=True),
        sa.Column("via_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["boost_id"], ["boost.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["owner_id"], ["actor.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["post_id"], ["post.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("owner_id", "entry_id"),
    )
    with op.batch_alter_table("home_feed_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_home_feed_entry_boost_id"), ["boost_id"], unique=False)
        batch_op.create_index(
            "ix_home_feed_entry_owner_post", ["owner_id", "post_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_home_feed_entry_post_id"), ["post_id"], unique=False)

    bind = op.get_bind()
    owners = [row[0] for row in bind.execute(sa.text("SELECT actor_id FROM localuser"))]
    backfill = sa.text(backfill_sql(bind.dialect.name))
    for owner in owners:
        bind.execute(backfill, {"owner": owner, "limit": BACKFILL_PER_ACCOUNT})


def downgrade() -> None:
    with op.batch_alter_table("home_feed_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_home_feed_entry_post_id"))
        batch_op.drop_index("ix_home_feed_entry_owner_post")
        batch_op.drop_index(batch_op.f("ix_home_feed_entry_boost_id"))

    op.drop_table("home_feed_entry")
