"""The caches of URL parts the inbox asks for on every delivery keep only what recurs and
only short URLs: a sender must not be able to fill them with megabytes, nor push the
senders' entries out with one-off ids."""

from __future__ import annotations

from federation import remote_actors, sig_owner


def test_host_of_caches_short_recurring_urls_only() -> None:
    remote_actors._cached_host_of.cache_clear()
    assert remote_actors.host_of("https://Remote.Example:443/users/bob") == "remote.example"
    assert remote_actors._cached_host_of.cache_info().currsize == 1
    long_url = "https://remote.example/" + "a" * 100_000
    assert remote_actors.host_of(long_url) == "remote.example"
    one_off = "https://remote.example:8443/activities/1"
    assert remote_actors.host_of(one_off, recurring=False) == "remote.example:8443"
    assert remote_actors._cached_host_of.cache_info().currsize == 1


def test_key_ownership_reads_long_urls_without_caching_them() -> None:
    sig_owner._cached_url_parts.cache_clear()
    actor = "https://remote.example/users/" + "b" * 10_000
    assert sig_owner.key_owner_matches(f"{actor}#main-key", actor, actor)
    assert not sig_owner.key_owner_matches(f"{actor}#main-key", actor, actor + "x")
    assert sig_owner._cached_url_parts.cache_info().currsize == 0
    short = "https://remote.example/users/bob"
    assert sig_owner.key_owner_matches(f"{short}#main-key", short, short)
    assert sig_owner._cached_url_parts.cache_info().currsize == 2  # the key id and the actor
