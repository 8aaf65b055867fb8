"""Paged ``OrderedCollection`` documents: outbox, followers, following, featured.

The root gives the size and a link to the first page, never the items: a big account's
followers would not fit in one response, and Mastodon (which reads ``totalItems`` for the
counts it shows) does the same. Pages go backwards in time by ``max_id``, the cursor our
time-ordered ids give every list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from federation.documents import with_context

OUTBOX_PAGE_SIZE = 20
FOLLOWS_PAGE_SIZE = 40


def page_url(collection_url: str, max_id: int | None = None) -> str:
    if max_id is None:
        return f"{collection_url}?page=true"
    return f"{collection_url}?max_id={max_id}&page=true"


def collection_root(collection_url: str, total: int, base_url: str) -> dict[str, Any]:
    return with_context(
        {
            "id": collection_url,
            "type": "OrderedCollection",
            "totalItems": total,
            "first": page_url(collection_url),
        },
        base_url,
    )


def collection_page(
    collection_url: str,
    items: Sequence[Any],
    *,
    base_url: str,
    max_id: int | None,
    next_max_id: int | None,
) -> dict[str, Any]:
    """One page. ``next_max_id`` is the cursor of the last item when more follow, else None."""
    page: dict[str, Any] = {
        "id": page_url(collection_url, max_id),
        "type": "OrderedCollectionPage",
        "partOf": collection_url,
        "orderedItems": list(items),
    }
    if next_max_id is not None:
        page["next"] = page_url(collection_url, next_max_id)
    return with_context(page, base_url)


def empty_collection(collection_url: str, base_url: str) -> dict[str, Any]:
    """A collection with nothing in it yet (featured posts: pinning comes later)."""
    return with_context(
        {
            "id": collection_url,
            "type": "OrderedCollection",
            "totalItems": 0,
            "orderedItems": [],
        },
        base_url,
    )
