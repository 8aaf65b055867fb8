"""The values of an ``IN`` list, padded to one of a few lengths.

SQLAlchemy renders a list parameter as one placeholder per value, so ``post_id IN (?, ?)``
and ``post_id IN (?, ?, ?)`` are two SQL texts, and the database driver prepares and keeps
a statement per text: Python's ``sqlite3`` up to 128 a connection, asyncpg and
SQLAlchemy's asyncpg dialect about 100. A page names however many posts, authors and
mentions it happens to show, so each of its batch lookups came in dozens of lengths:
measured after the benchmark's 20,000 mixed page requests, every pooled SQLite connection
held 128 prepared statements taking 1.6 MB, most of them one lookup at forty lengths
(10-45 KB each), and the cache was evicting and preparing them again on every page.
Padded to a power of two, a lookup has at most a handful of texts.

Repeating a value changes nothing an ``IN`` test matches: a row is selected once however
often its key is listed, and the planner searches the index once per distinct value. Only
lists used with ``IN`` go through here, never rows to insert.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")

LINEAR_FROM = 256
"""Past this length lists grow in steps of this size instead of doubling, so that a long
list is never padded by thousands of values."""

MAX_PADDED = 30_000
"""Never pad past this: SQLite refuses statements of more than 32,766 parameters, and a
list this long is rare enough that its exact length costs nothing to prepare."""


def padded_length(count: int) -> int:
    """The length a list of ``count`` distinct values is padded to."""
    if count <= 1:
        return count
    if count <= LINEAR_FROM:
        return 1 << (count - 1).bit_length()
    size = -(-count // LINEAR_FROM) * LINEAR_FROM
    return size if size <= MAX_PADDED else count


def padded(values: Iterable[T]) -> list[T]:
    """The distinct ``values`` in their first order, the last repeated up to
    ``padded_length``."""
    items = list(dict.fromkeys(values))
    missing = padded_length(len(items)) - len(items)
    if missing > 0:
        items.extend([items[-1]] * missing)
    return items
