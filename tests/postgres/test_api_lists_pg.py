"""``tests/api/test_lists.py`` again, on PostgreSQL (see this folder's conftest)."""

from __future__ import annotations

from tests.api.conftest import *  # noqa: F403  (its fixtures)
from tests.api.test_lists import *  # noqa: F403  (its tests)
