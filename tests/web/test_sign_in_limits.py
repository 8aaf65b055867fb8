"""The sign-in and sign-up limits hold against clients that try to slip past them.

Behind a reverse proxy, uvicorn's proxy-headers middleware (what ``tessera serve`` runs
with ``trusted_proxy``) resolves the client address from ``X-Forwarded-For``; a client
writing its own entries at the front of that header must still be counted as itself.
The limiter must not forget held-back clients when many new keys arrive, sign-ups are
limited per address, and password hashing and key generation run off the event loop.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Iterator
from types import FrameType
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from federation.keys import generate_rsa_keypair
from services import accounts, passwords
from services.context import Services
from storage.models import LocalUser
from tessera.config import Config
from tests.conftest import csrf_from
from web.app import create_app
from web.security import SlidingWindowLimiter


@pytest.fixture
async def proxied(config: Config, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """The app as ``tessera serve`` runs it behind a proxy on 127.0.0.1 (the ASGI
    transport's client address)."""
    app = ProxyHeadersMiddleware(
        create_app(config, services=services, run_workers=False), trusted_hosts="127.0.0.1"
    )
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url=config.base_url) as client:
        yield client


async def failed_sign_in(client: httpx.AsyncClient, name: str, forwarded: str) -> int:
    token = await csrf_from(client, "/login")
    response = await client.post(
        "/login",
        data={"username": name, "password": "not the password", "csrf_token": token},
        headers={"x-forwarded-for": forwarded},
    )
    return response.status_code


@pytest.mark.parametrize(
    "config_overrides", [{"server": {"trusted_proxy": True, "login_attempts_per_window": 3}}]
)
async def test_forged_forwarded_for_entries_do_not_reset_the_limit(
    proxied: httpx.AsyncClient,
) -> None:
    # each attempt names a new account and claims a new address in front of the real one
    codes = [await failed_sign_in(proxied, f"u{i}", f"10.0.0.{i}, 203.0.113.7") for i in range(6)]
    assert codes == [403, 403, 403, 429, 429, 429]
    # another client behind the same proxy is counted on its own
    assert await failed_sign_in(proxied, "someone", "203.0.113.8") == 403


def test_a_spray_of_new_keys_does_not_free_a_held_back_client() -> None:
    now = [0.0]
    limiter = SlidingWindowLimiter(2, 300, clock=lambda: now[0], max_keys=50)
    limiter.hit("ip:attacker")
    limiter.hit("ip:attacker")
    assert not limiter.allowed("ip:attacker")
    for i in range(1_000):  # many other clients, one attempt each
        now[0] += 0.01
        limiter.hit(f"ip:10.0.{i // 256}.{i % 256}")
        assert len(limiter._events) <= 50  # memory stays bounded
    assert not limiter.allowed("ip:attacker")
    now[0] += 301  # the window passes: everyone may try again
    assert limiter.allowed("ip:attacker")


async def user_count(services: Services) -> int:
    async with services.db.session() as session:
        return int((await session.exec(select(func.count()).select_from(LocalUser))).one())


@pytest.mark.parametrize("config_overrides", [{"server": {"signup_attempts_per_window": 2}}])
async def test_sign_ups_are_limited_per_address(
    client: httpx.AsyncClient, services: Services
) -> None:
    async def attempt(name: str) -> httpx.Response:
        client.cookies.clear()
        token = await csrf_from(client, "/login")
        data = {"csrf_token": token, "username": name, "password": "a good password"}
        return await client.post("/signup", data={**data, "password_confirm": "a good password"})

    assert (await attempt("first")).status_code == 303
    assert (await attempt("second")).status_code == 303
    refused = await attempt("third")
    assert refused.status_code == 429 and "Too many sign-up attempts" in refused.text
    assert int(refused.headers["retry-after"]) > 0
    assert await user_count(services) == 2


@pytest.fixture
def loop_thread_calls() -> Iterator[Callable[[], list[str]]]:
    """Names of the expensive functions called on this (the event loop's) thread."""
    watched = {
        passwords.hash_password.__code__,
        passwords.verify_password.__code__,
        generate_rsa_keypair.__code__,
    }
    seen: list[str] = []

    def profile(frame: FrameType, event: str, _arg: Any) -> None:
        if event == "call" and frame.f_code in watched:
            seen.append(frame.f_code.co_name)

    previous = sys.getprofile()
    sys.setprofile(profile)  # this thread only: worker threads are not watched
    yield lambda: list(seen)
    sys.setprofile(previous)


async def test_hashing_and_key_generation_leave_the_event_loop_free(
    services: Services, loop_thread_calls: Callable[[], list[str]]
) -> None:
    actor, _ = await accounts.create_user(services, "alice", "correct horse battery")
    assert (await accounts.authenticate(services, "alice", "correct horse battery")).id == actor.id
    with pytest.raises(accounts.LoginRefused):
        await accounts.authenticate(services, "nobody", "correct horse battery")
    await accounts.change_password(services, actor.id, "correct horse battery", "a new password")
    assert (await accounts.authenticate(services, "alice", "a new password")).id == actor.id
    assert loop_thread_calls() == []


@pytest.mark.parametrize(
    "config_overrides",
    [{"server": {"trusted_proxy": True, "login_attempts_per_window": 4, "processes": 2}}],
)
async def test_each_web_process_allows_its_share_of_the_sign_in_limit(
    proxied: httpx.AsyncClient,
) -> None:
    # two processes each keep their own count: each may allow only half, or a client
    # spreading its guesses over both would get twice the configured number
    codes = [await failed_sign_in(proxied, f"u{i}", "203.0.113.9") for i in range(3)]
    assert codes == [403, 403, 429]
