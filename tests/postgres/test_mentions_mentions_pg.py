"""``tests/mentions/test_mentions.py`` again, on PostgreSQL (see this folder's conftest)."""

from __future__ import annotations

from tests.mentions.conftest import *  # noqa: F403  (its fixtures)
from tests.mentions.test_mentions import *  # noqa: F403  (its tests)
