"""``tests/api/test_statuses.py`` again, on PostgreSQL (see this folder's conftest)."""

from __future__ import annotations

from tests.api.conftest import *  # noqa: F403  (its fixtures)
from tests.api.test_statuses import *  # noqa: F403  (its tests)
