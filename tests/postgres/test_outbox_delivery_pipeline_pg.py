"""``tests/outbox/test_delivery_pipeline.py`` again, on PostgreSQL (see this folder's conftest)."""

from __future__ import annotations

from tests.outbox.conftest import *  # noqa: F403  (its fixtures)
from tests.outbox.test_delivery_pipeline import *  # noqa: F403  (its tests)
