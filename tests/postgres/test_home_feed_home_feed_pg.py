"""``tests/home_feed/test_home_feed.py`` again, on PostgreSQL (see this folder's conftest)."""

from __future__ import annotations

from tests.home_feed.conftest import *  # noqa: F403  (its fixtures)
from tests.home_feed.test_home_feed import *  # noqa: F403  (its tests)
