"""``tests/outbox/test_workers_run.py`` again, on PostgreSQL (see this folder's conftest)."""

from __future__ import annotations

from tests.outbox.conftest import *  # noqa: F403  (its fixtures)
from tests.outbox.test_workers_run import *  # noqa: F403  (its tests)
