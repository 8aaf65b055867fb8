"""``tests/web/test_social.py`` again, on PostgreSQL (see this folder's conftest)."""

from __future__ import annotations

from tests.web.test_social import *  # noqa: F403  (its tests)
