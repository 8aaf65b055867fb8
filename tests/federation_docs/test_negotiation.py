"""Which Accept headers get ActivityPub JSON and which get the page."""

from __future__ import annotations

import pytest

from federation.negotiation import parse_accept, prefers_html, wants_activity_json
from tests.federation_docs.helpers import AP, BROWSER, LD_AS


@pytest.mark.parametrize(
    "accept",
    [
        AP,
        LD_AS,
        "application/ld+json",
        "application/json",
        'application/ld+json; profile="https://www.w3.org/ns/activitystreams", '
        "application/activity+json",
        "application/activity+json, text/html;q=0.5",
        "text/html;q=0.9, application/activity+json",
        "APPLICATION/ACTIVITY+JSON",
    ],
)
def test_ap_clients_get_json(accept: str) -> None:
    assert wants_activity_json(accept)
    assert not prefers_html(accept)


@pytest.mark.parametrize(
    "accept",
    [
        BROWSER,
        "text/html",
        "text/html, application/activity+json;q=0.5",
        "application/activity+json;q=0",
        "*/*",
        "",
        None,
        "application/*",
    ],
)
def test_browsers_and_wildcards_do_not_get_json(accept: str | None) -> None:
    assert not wants_activity_json(accept)


def test_prefers_html_only_when_html_is_named_above_ap() -> None:
    assert prefers_html(BROWSER)
    assert prefers_html("text/html")
    assert not prefers_html(None)
    assert not prefers_html("*/*")
    assert not prefers_html(AP)
    assert not prefers_html("text/html, application/json")  # a tie goes to the document


def test_parse_accept_keeps_quoted_commas_and_drops_bad_q() -> None:
    parsed = parse_accept('application/ld+json; profile="a,b"; q=0.4, text/html;q=oops, x/y;q=2')
    assert parsed == [("application/ld+json", 0.4)]
