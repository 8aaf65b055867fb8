"""``tests/inbox/test_remote_actors.py`` again, on PostgreSQL (see this folder's conftest)."""

from __future__ import annotations

from tests.inbox.conftest import *  # noqa: F403  (its fixtures)
from tests.inbox.test_remote_actors import *  # noqa: F403  (its tests)
