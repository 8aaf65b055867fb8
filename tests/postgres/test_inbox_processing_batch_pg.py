"""``tests/inbox_processing/test_batch.py`` again, on PostgreSQL (see this folder's conftest):
the batch's set-based statements and ``executemany`` on the other database. The
comparison's instance without the batch stays on SQLite, so the rows are also compared
across the two databases. The failure and query-plan tests use SQLite's own trigger and
planner and stay there."""

from __future__ import annotations

from tests.inbox_processing.conftest import *  # noqa: F403  (its fixtures)
from tests.inbox_processing.test_batch import (  # noqa: F401  (its tests)
    test_the_batch_ends_as_one_at_a_time_does,
    test_what_the_batch_takes_and_leaves,
)
