"""Who receives what: visibility → ``to``/``cc``, and recipients → inboxes (pure).

Two questions with separate answers. *Addressing* (``to``/``cc``) tells a receiver who may
see an object; it names collections (Public, our followers) and actors. *Delivery* decides
which inboxes get a POST: our remote followers' servers (the shared inbox of each, once),
plus the actors an activity is about (the author of a post we like, boost or answer, the
people mentioned). The database lookups live in ``storage.delivery_queries``; this module
only turns actor rows into a deduplicated set of remote inbox URLs.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from federation.documents import addressing as _note_addressing
from storage.models import Actor

__all__ = ["host_of", "inboxes_for", "is_local_url", "personal_inbox", "preferred_inbox", "to_cc"]


def to_cc(visibility: str, followers_url: str) -> tuple[list[str], list[str]]:
    """(to, cc) of a post of this visibility: the one rule ``documents.note_object`` uses."""
    return _note_addressing(visibility, followers_url)


def host_of(url: str) -> str:
    """``host[:port]``, lower-cased: the key deliveries and host health are grouped by."""
    return urlsplit(url).netloc.lower()


def is_local_url(url: str, local_base_url: str) -> bool:
    return host_of(url) == host_of(local_base_url)


def preferred_inbox(actor: Actor) -> str | None:
    """Where to deliver something every follower on that server may read: the shared inbox
    when the server has one (one POST per server), else the actor's own. None for locals."""
    if actor.domain is None:
        return None
    return actor.shared_inbox_url or actor.inbox_url


def personal_inbox(actor: Actor) -> str | None:
    """Where to deliver something addressed to one actor (Follow, Accept, Like, Block):
    its own inbox, as Mastodon does, falling back to the shared one. None for locals."""
    if actor.domain is None:
        return None
    return actor.inbox_url or actor.shared_inbox_url


def inboxes_for(actors: Iterable[Actor], *, local_base_url: str, shared: bool = True) -> set[str]:
    """Deduplicated remote inboxes of ``actors`` (shared ones preferred unless ``shared`` is
    False). Local actors and any URL on our own host are left out: they read the rows."""
    pick = preferred_inbox if shared else personal_inbox
    found: set[str] = set()
    for actor in actors:
        url = pick(actor)
        if url and not is_local_url(url, local_base_url):
            found.add(url)
    return found
