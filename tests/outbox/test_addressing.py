"""Recipients → inboxes: shared inboxes preferred and deduplicated, never our own host."""

from __future__ import annotations

import pytest

from federation.addressing import (
    host_of,
    inboxes_for,
    is_local_url,
    personal_inbox,
    preferred_inbox,
    to_cc,
)
from federation.documents import addressing
from federation.vocab import PUBLIC
from storage.models import Actor

LOCAL = "https://gallery.test"


def actor(name: str, domain: str | None, *, shared: bool = True) -> Actor:
    base = f"https://{domain or 'gallery.test'}"
    return Actor(
        id=hash((name, domain)) & 0xFFFF,
        username=name,
        username_lower=name,
        domain=domain,
        ap_id=f"{base}/users/{name}",
        inbox_url=f"{base}/users/{name}/inbox",
        shared_inbox_url=f"{base}/inbox" if shared else None,
    )


@pytest.mark.parametrize("visibility", ["public", "unlisted", "followers", "direct"])
def test_to_cc_is_the_notes_own_rule(visibility: str) -> None:
    followers = f"{LOCAL}/users/alice/followers"
    assert to_cc(visibility, followers) == addressing(visibility, followers)


def test_public_and_unlisted() -> None:
    followers = f"{LOCAL}/users/alice/followers"
    assert to_cc("public", followers) == ([PUBLIC], [followers])
    assert to_cc("unlisted", followers) == ([followers], [PUBLIC])
    assert to_cc("followers", followers) == ([followers], [])


def test_shared_inboxes_are_preferred_and_deduplicated() -> None:
    people = [actor(f"p{i}", "one.example") for i in range(5)]
    people += [actor("solo", "two.example", shared=False), actor("q", "three.example")]
    assert inboxes_for(people, local_base_url=LOCAL) == {
        "https://one.example/inbox",
        "https://two.example/users/solo/inbox",
        "https://three.example/inbox",
    }


def test_personal_inboxes_for_activities_aimed_at_one_actor() -> None:
    bob = actor("bob", "one.example")
    assert personal_inbox(bob) == "https://one.example/users/bob/inbox"
    assert preferred_inbox(bob) == "https://one.example/inbox"
    assert inboxes_for([bob], local_base_url=LOCAL, shared=False) == {
        "https://one.example/users/bob/inbox"
    }


def test_local_actors_and_our_own_host_are_never_delivered_to() -> None:
    local = actor("alice", None)
    assert preferred_inbox(local) is None and personal_inbox(local) is None
    # a "remote" row that points at our own host (misconfiguration) is left out too
    impostor = actor("eve", "gallery.test")
    assert inboxes_for([local, impostor], local_base_url=LOCAL) == set()


def test_hosts_keep_their_port() -> None:
    assert host_of("http://127.0.0.1:8080/inbox") == "127.0.0.1:8080"
    assert host_of("HTTPS://Remote.Example/inbox") == "remote.example"
    assert is_local_url("http://127.0.0.1:8080/x", "http://127.0.0.1:8080")
    assert not is_local_url("http://127.0.0.1:9090/x", "http://127.0.0.1:8080")
