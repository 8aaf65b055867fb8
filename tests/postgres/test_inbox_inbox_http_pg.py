"""``tests/inbox/test_inbox_http.py`` again, on PostgreSQL (see this folder's conftest)."""

from __future__ import annotations

from tests.inbox.conftest import *  # noqa: F403  (its fixtures)
from tests.inbox.test_inbox_http import *  # noqa: F403  (its tests)
