"""IPv6 site-local addresses (fec0::/10) are not fetched.

RFC 3879 deprecated them, but some internal networks still route them, and Python counts
them as global: neither ``is_private`` nor ``is_global`` catches them, so the guard names
the class itself. Checked the three ways an address reaches the guard: the address, a URL
with it as a literal host, and a real request through the transport.
"""

from __future__ import annotations

import pytest

from federation.transport import AddressRefused, Signer, Transport
from federation.transport_guard import check_address, check_url, resolve_checked

SITE_LOCAL = ["fec0::1", "fec0:0:0:1::5", "feff:ffff::1", "fed0::a"]


@pytest.mark.parametrize("ip", SITE_LOCAL)
def test_site_local_addresses_are_refused(ip: str) -> None:
    assert check_address(ip) == "a site-local address"
    with pytest.raises(AddressRefused):
        check_url(f"https://[{ip}]/users/bob", allow_private=False)


@pytest.mark.parametrize("ip", ["fe80::1", "ff02::1", "2001:4860:4860::8888"])
def test_neighbouring_ranges_keep_their_own_verdict(ip: str) -> None:
    """fe80::/10 just below is link-local, ff00::/8 just above is multicast; a public
    address stays allowed (the site-local rule is not a blanket IPv6 refusal)."""
    assert check_address(ip) != "a site-local address"
    assert (check_address(ip) is None) == ip.startswith("2001:")


async def test_the_transport_never_connects_to_site_local(signer: Signer) -> None:
    with pytest.raises(AddressRefused):
        await resolve_checked("fec0::1", 443, allow_private=False)
    async with Transport(user_agent="Tessera-test", allow_private_addresses=False) as client:
        with pytest.raises(AddressRefused) as info:
            await client.get_json("https://[fec0::1]/users/bob", signer=signer)
        assert "site-local" in str(info.value.public)
        with pytest.raises(AddressRefused):
            await client.post_activity("https://[fec0::1]/inbox", b"{}", signer=signer)
