"""``tests/inbox_processing/test_actors_moderation.py`` again, on PostgreSQL (see this folder's conftest)."""

from __future__ import annotations

from tests.inbox_processing.conftest import *  # noqa: F403  (its fixtures)
from tests.inbox_processing.test_actors_moderation import *  # noqa: F403  (its tests)
