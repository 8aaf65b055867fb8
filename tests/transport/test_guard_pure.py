"""Pure parts of the transport: address classes, URL checks, redirect hops, origins,
Retry-After and media types. No network at all."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from federation.transport import (
    AddressRefused,
    FetchError,
    RedirectRefused,
    media_type,
    parse_retry_after,
)
from federation.transport_errors import describe_host
from federation.transport_guard import (
    check_address,
    check_url,
    next_hop,
    origin_of,
    resolve_checked,
)


@pytest.mark.parametrize(
    "ip",
    [
        "93.184.216.34",
        "1.1.1.1",
        "8.8.8.8",
        "2606:4700::1",
        "2a00:1450:4001:80e::200e",
        "64:ff9b::808:808",  # NAT64 form of 8.8.8.8 (DNS64 on IPv6-only hosts)
        "::ffff:93.184.216.34",  # IPv4-mapped public address
        "2002:5db8:d822::1",  # 6to4 form of 93.184.216.34
    ],
)
def test_public_addresses_are_allowed(ip: str) -> None:
    assert check_address(ip) is None


@pytest.mark.parametrize(
    ("ip", "word"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "private"),
        ("255.255.255.255", "private"),
        ("100.64.0.1", "not a globally routable"),
        ("198.18.0.1", "private"),
        ("2001:db8::1", "private"),
        ("::ffff:127.0.0.1", "loopback address in IPv4-mapped form"),
        ("::ffff:10.1.2.3", "private address in IPv4-mapped form"),
        ("::ffff:169.254.169.254", "link-local address in IPv4-mapped form"),
        ("2002:7f00:1::1", "loopback address in 6to4 form"),
        ("2002:a9fe:a9fe::1", "link-local address in 6to4 form"),
        ("64:ff9b::7f00:1", "loopback address in NAT64 form"),
        ("64:ff9b::a00:1", "private address in NAT64 form"),
        ("::7f00:1", "reserved"),  # deprecated IPv4-compatible form
        ("not-an-ip", "not an IP address"),
    ],
)
def test_refused_address_classes(ip: str, word: str) -> None:
    reason = check_address(ip)
    assert reason is not None
    assert word in reason


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/x",
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/",
        "https:///nohost",
        "https://user:pw@example.org/",
        "http://example.org:99999/",
        "//example.org/x",
    ],
)
def test_unfetchable_urls_are_refused_even_when_private_is_allowed(url: str) -> None:
    with pytest.raises(AddressRefused):
        check_url(url, allow_private=True)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080/", "http://[::1]/", "http://10.0.0.1/", "http://[::ffff:127.0.0.1]/"],
)
def test_literal_private_hosts(url: str) -> None:
    check_url(url, allow_private=True)
    with pytest.raises(AddressRefused) as info:
        check_url(url, allow_private=False)
    assert info.value.status == 502
    assert "request to http://" in info.value.public


def test_host_names_pass_the_url_check_and_are_judged_at_connect_time() -> None:
    check_url("https://example.org/users/a", allow_private=False)  # no DNS here


async def test_resolve_checked_refuses_localhost_when_private_is_not_allowed() -> None:
    # localhost comes from /etc/hosts: no DNS traffic leaves the machine.
    with pytest.raises(AddressRefused) as info:
        await resolve_checked("localhost", 80, allow_private=False)
    assert "loopback" in info.value.public
    assert "127.0.0.1" in await resolve_checked("localhost", 80, allow_private=True)


async def test_resolve_checked_literal_needs_no_resolver() -> None:
    assert await resolve_checked("93.184.216.34", 443, allow_private=False) == ["93.184.216.34"]
    with pytest.raises(AddressRefused):
        await resolve_checked("::ffff:127.0.0.1", 443, allow_private=False)


def test_next_hop_resolves_relative_locations() -> None:
    assert next_hop("https://a.example/x/y", "/z") == "https://a.example/z"
    assert next_hop("https://a.example/x/y", "w?q=1") == "https://a.example/x/w?q=1"
    assert next_hop("https://a.example/x", "https://b.example/y") == "https://b.example/y"
    assert next_hop("http://a.example/x", "https://b.example/y") == "https://b.example/y"
    assert next_hop("http://a.example/x", "//b.example/y") == "http://b.example/y"


@pytest.mark.parametrize(
    ("current", "location", "reason"),
    [
        ("https://a.example/x", "http://a.example/x", "https to http"),
        ("https://a.example/x", "http://b.example/", "https to http"),
        ("https://a.example/x", "ftp://a.example/x", "not http(s)"),
        ("https://a.example/x", "javascript:alert(1)", "not http(s)"),
        ("https://a.example/x", None, "without a Location"),
        ("https://a.example/x", "  ", "without a Location"),
    ],
)
def test_next_hop_refusals(current: str, location: str | None, reason: str) -> None:
    with pytest.raises(RedirectRefused) as info:
        next_hop(current, location)
    assert reason in info.value.public
    assert isinstance(info.value, FetchError)


def test_origins() -> None:
    assert origin_of("https://A.example/x") == ("https", "a.example", 443)
    assert origin_of("https://a.example:443/y") == origin_of("https://a.example/z")
    assert origin_of("http://a.example/") == ("http", "a.example", 80)
    assert origin_of("https://a.example:8443/") != origin_of("https://a.example/")
    assert origin_of("http://a.example/") != origin_of("https://a.example/")
    assert origin_of("urn:uuid:1234") is None
    assert origin_of("https://a.example:bad/") is None


def test_describe_host_never_shows_credentials_or_paths() -> None:
    assert describe_host("https://u:secret@a.example:8443/p?q=1") == "https://a.example:8443"
    assert describe_host("http://[::1]:80/") == "http://[::1]:80"
    assert describe_host("nonsense") == "an invalid URL"


NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Sat, 01 Mar 2025 12:02:00 GMT", 120.0),
        ("Saturday, 01-Mar-25 12:00:30 GMT", 30.0),  # RFC 850 form
        ("Sat, 01 Mar 2025 11:00:00 GMT", 0.0),  # in the past: retry now
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            'application/ld+json; profile="https://www.w3.org/ns/activitystreams"',
            "application/ld+json",
        ),
        ("Application/Activity+JSON", "application/activity+json"),
        ("text/html; charset=utf-8", "text/html"),
        ("", ""),
        (None, ""),
        ("<script>", ""),
    ],
)
def test_media_type(value: str | None, expected: str) -> None:
    assert media_type(value) == expected
